#!/usr/bin/env bash
# Every command the README shows, run as a user runs it, with options that keep each short:
# the npm scripts (demo, demo:generate, demo:learn, bench) and each CLI example (generate,
# train, resume, evaluate, predict from an http:// checkout, inspect, bench, grid with local
# workers and over NATS, data-parallel training on one and on two "nodes", compile (a .pt and
# a --module) and inspect of the package, sim2sim, robots, the Python environment client
# (pip install from the checkout, python -m torchloop_env into generate --nats),
# fetch from a local folder: no network here). CI runs it on the
# clean clone after `npm test` (.ci/run); a command that works only in a developer's checkout
# fails here. Each command's output is kept in $LOGS; the last line is "N passed, N failed".
#
#   bash scripts/readme-commands.sh
set -uo pipefail
cd "$(dirname "$0")/.."
LOGS=${LOGS:-$(mktemp -d /tmp/torchloop-readme-XXXXXX)}
passed=0 failed=0
cli() { node bin/torchloop.mjs "$@"; }

# run NAME REGEX COMMAND...: the command must exit 0 and print something matching REGEX.
run() {
  local name=$1 want=$2; shift 2
  local log="$LOGS/$(tr -c 'a-zA-Z0-9_.-' '_' <<<"$name").log" t0=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ] && grep -Eq -- "$want" "$log"; then
    passed=$((passed + 1)); echo "ok    $name ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1)); echo "FAIL  $name (exit $rc; wanted /$want/): last lines of $log"; tail -n 15 "$log" | sed 's/^/      /'
  fi
}

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# The README's own commands. The learning examples use demo/learn/spring-chain.yaml as shown,
# with fewer epochs; they write data/ and runs/ (ignored by git) as they do for a user.
exp=demo/learn/spring-chain.yaml
quick=(--training.epochs 2 --training.batchesPerEpoch 4 --validation.samples 64)
run "npm run demo" 'stayed up' npm run demo -- --seconds 2
run "npm run demo (no robot files: says how to get them, runs the arm)" 'Running the arm demo instead' env TORCHLOOP_ROBOTS="$LOGS/no-robots" XDG_CACHE_HOME="$LOGS/no-cache" npm run demo -- --seconds 1
run "npm run demo -- --plant arm" 'GCs in the loop: 0' npm run demo -- --plant arm --seconds 2
run "npm run demo:generate" '32 samples' npm run demo:generate -- --batches 2 --batch-size 16 --workers 1 --out "$LOGS/generated.sqlite"
run "npm run demo:learn" 'speed-up x[0-9]+' npm run demo:learn -- "${quick[@]}" --prediction.steps 10
run "npm run bench -- --quick" 'M2' npm run bench -- --quick --models M2 --no-training --no-data --no-pipeline --no-compile --no-zoo --no-loop
run "torchloop generate" 'samples' cli generate "$exp" "${quick[@]}"
run "torchloop train" 'epoch' cli train "$exp" "${quick[@]}" --optimizer.lr 1e-3
run "torchloop train --resume" 'epoch|finished' cli train "$exp" --training.epochs 3 --training.batchesPerEpoch 4 --validation.samples 64 --resume runs/spring-chain/checkpoints/last.pt
run "torchloop evaluate --json" '"mse"' cli evaluate "$exp" --checkpoint runs/spring-chain/checkpoints/best.pt --json
# predict --checkpoint http://host/best.pt: the checkpoint served over HTTP on loopback.
port=$(free_port)
python3 -m http.server "$port" --bind 127.0.0.1 --directory runs/spring-chain/checkpoints >"$LOGS/http.log" 2>&1 &
http=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
run "torchloop predict --checkpoint http://..." 'rmse|RMS' cli predict "$exp" --checkpoint "http://127.0.0.1:$port/best.pt" --steps 20
kill $http 2>/dev/null
run "torchloop inspect" 'forward' cli inspect test/fixtures/torch-2.13/mlp_m2.pt
run "torchloop inspect --json" '"methods"' cli inspect test/fixtures/torch-2.13/mlp_m2.pt --json
# compile: a TorchScript file, and a Python module's factory (written here, found on PYTHONPATH).
run "torchloop compile policy.pt --input 1x48 -o policy.pt2" 'outputs match the source' cli compile test/fixtures/torch-2.13/mlp_m2.pt --input 1x48 -o "$LOGS/policy.pt2"
run "torchloop inspect policy.pt2" 'AOTInductor package' cli inspect "$LOGS/policy.pt2"
mkdir -p "$LOGS/py/my_pkg" && touch "$LOGS/py/my_pkg/__init__.py"
printf 'import torch\ndef make_policy():\n    return torch.nn.Sequential(torch.nn.Linear(48, 64), torch.nn.ELU(), torch.nn.Linear(64, 12))\n' >"$LOGS/py/my_pkg/policies.py"
run "torchloop compile --module my_pkg.policies:make_policy" 'outputs match the source' env PYTHONPATH="$LOGS/py" node bin/torchloop.mjs compile --module my_pkg.policies:make_policy --input 1x48 -o "$LOGS/module.pt2"
run "torchloop sim2sim" 'stayed up' cli sim2sim h1.yaml --seconds 2
run "torchloop sim2sim --realtime --trajectory" 'missed deadlines [0-9]+' cli sim2sim h1.yaml --seconds 1 --realtime --trajectory "$LOGS/h1-trajectory.json"
run "torchloop sim2sim --realtime --view" '3D scope: http://127\.0\.0\.1:[0-9]+/' cli sim2sim h1.yaml --realtime --view --seconds 2
run "torchloop sim2sim --command --trajectory --json" '"fell":false' cli sim2sim h1.yaml --command 0.8,0,0 --trajectory "$LOGS/h1.json" --json --seconds 2
# `torchloop robots fetch` downloads from GitHub: there is no network here, so CI runs the same
# code path from a local folder (--from), as the consumer test does.
run "torchloop robots fetch --from" 'sha256-checked' cli robots fetch --from "${TORCHLOOP_ROBOTS:-../shared/robots}" --to "$LOGS/robots"
run "torchloop bench" 'p50' cli bench --model test/fixtures/torch-2.13/mlp_m2.pt --shape 1x48 --steps 2000 --rounds 2
run "torchloop grid --workers 2" 'done' cli grid demo/learn/grid.yaml --workers 2
# grid --nats and worker --nats, through a JetStream nats-server on loopback.
nport=$(free_port)
nats-server -js -a 127.0.0.1 -p "$nport" -sd "$LOGS/jetstream" >"$LOGS/nats-server.log" 2>&1 &
nats=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break; sleep 0.1; done
cli worker --nats "127.0.0.1:$nport" --grid lr-sweep --wait 120 >"$LOGS/worker.log" 2>&1 &
worker=$!
run "torchloop grid --nats + worker --nats" 'done' cli grid demo/learn/grid.yaml --nats "127.0.0.1:$nport"
wait $worker; wrc=$?
if [ $wrc -eq 0 ]; then passed=$((passed + 1)); echo "ok    torchloop worker --nats exits 0 when the grid ends"; else failed=$((failed + 1)); echo "FAIL  torchloop worker --nats (exit $wrc)"; tail -n 15 "$LOGS/worker.log"; fi
# A Python simulator feeds the trainer (README: "Python simulators"): the client installed from
# the checkout into its own venv, as shown; the trainer's side receives into the beam's database.
run "pip install ./python/torchloop_env[mujoco] (a fresh venv)" 'Successfully installed|already satisfied' bash -c "rm -rf .venv-sim && python3 -m venv .venv-sim && .venv-sim/bin/pip install --retries 0 './python/torchloop_env[mujoco]'"
cli generate demo/learn/beam.yaml --nats "127.0.0.1:$nport" --batches 4 >"$LOGS/generate-nats.log" 2>&1 &
receiver=$!
run "python -m torchloop_env (the beam, 4 batches)" '"published": 4' .venv-sim/bin/python -m torchloop_env --servers "127.0.0.1:$nport" --dataset beam-surrogate --client-id sim-1 --env torchloop_env.beam:BeamEnvironment --batch-size 32 --batches 4 --seed 1
wait $receiver; rrc=$?
if [ $rrc -eq 0 ] && grep -q '128 samples from remote clients' "$LOGS/generate-nats.log"; then passed=$((passed + 1)); echo "ok    torchloop generate --nats (128 samples from the Python client)"; else failed=$((failed + 1)); echo "FAIL  torchloop generate --nats (exit $rrc)"; tail -n 15 "$LOGS/generate-nats.log"; fi
kill $nats 2>/dev/null
run "torchloop train --nproc 2" 'epoch' cli train "$exp" "${quick[@]}" --nproc 2
mport=$(free_port)
cli train "$exp" "${quick[@]}" --output ../../runs/spring-chain-nodes --nproc 1 --nnodes 2 --node-rank 1 --master "127.0.0.1:$mport" >"$LOGS/node1.log" 2>&1 &
node1=$!
run "torchloop train --nnodes 2 (node 0 and node 1)" 'epoch' cli train "$exp" "${quick[@]}" --output ../../runs/spring-chain-nodes --nproc 1 --nnodes 2 --node-rank 0 --master "127.0.0.1:$mport"
wait $node1 || { failed=$((failed + 1)); echo "FAIL  the --node-rank 1 launcher"; tail -n 15 "$LOGS/node1.log"; }

# The development commands the README lists beside them (check:native runs as its own CI stage).
run "npm run check:cuda" 'ok +links libtorch_cuda' npm run check:cuda
run "npm pack" 'torchloop-.*\.tgz' npm pack --pack-destination "$LOGS"
# prebuildify rebuilds build/ from scratch and leaves no addon there: it runs in a copy of the
# checkout's files (with its node_modules and .torch), so the stages after this keep theirs.
prebuild_in_copy() {
  local copy; copy=$(mktemp -d /tmp/torchloop-prebuild-XXXXXX)
  git ls-files -z | tar --null -cf - -T - | tar -xf - -C "$copy"
  ln -s "$PWD/node_modules" "$copy/node_modules"
  [ -d .torch ] && ln -s "$PWD/.torch" "$copy/.torch"
  (cd "$copy" && npm run prebuildify && ls prebuilds/*/*.node) || return 1
  rm -rf "$copy"
}
run "npm run prebuildify" 'prebuilds/linux-x64/torchloop.node' prebuild_in_copy

echo "logs: $LOGS"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
