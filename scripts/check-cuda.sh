#!/usr/bin/env bash
# npm run check:cuda: builds torchloop against a CUDA libtorch (pip torch 2.14.1 with NVIDIA's
# runtime wheels, in .torch-cuda/, and the CUDA toolkit in /usr/local/cuda), with the CUDA-only
# executor (pinned memory, a stream, CUDA graphs) and core_check, into build-cuda/. Then:
#   - checks that the addon links libtorch_cuda and cudart, and uses the CUDA graph and stream API;
#   - loads it in Node: without a GPU, CUDA is reported absent and asking for it is ERR_DEVICE;
#   - with a GPU (nvidia-smi sees one): core_check on CUDA, test/gpu/ and the M2 step bench.
# Not part of CI (about 4.5 GB of wheels and a 3-minute build); quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.torch-cuda
spec='torch==2.14.1'
nvidia=("cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.0.3"
        nvidia-cudnn-cu13==9.24.0.43 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 nvidia-nvshmem-cu13==3.4.5)
stamp="$venv/torchloop-packages.txt"
if [ "$(cat "$stamp" 2>/dev/null)" != "$spec ${nvidia[*]}" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # --no-deps for torch: its Python-only dependencies (cuda-bindings, triton) are not needed
  # to build against its libtorch, and are not in every wheel store.
  "$venv/bin/pip" install --quiet --retries 0 --no-deps "$spec"
  "$venv/bin/pip" install --quiet --retries 0 "${nvidia[@]}"
  echo "$spec ${nvidia[*]}" > "$stamp"
fi
torch_dir=$(echo "$PWD"/$venv/lib/python3*/site-packages/torch)
addon=build-cuda/Release/torchloop.node
newest=$(find native CMakeLists.txt scripts/find-libtorch.mjs -newer "$addon" 2>/dev/null | head -1 || true)
if [ ! -f "$addon" ] || [ -n "$newest" ]; then
  LIBTORCH="$torch_dir" npx cmake-js compile --CDCMAKE_BUILD_TYPE=Release --CDTORCHLOOP_TOOLS=ON --out build-cuda
fi

fail=0
check() { if eval "$2"; then echo "ok    $1"; else echo "FAIL  $1"; fail=1; fi; }
needed=$(readelf -d "$addon" | grep NEEDED)
symbols=$(nm -DC "$addon")
check "links libtorch_cuda, c10_cuda and cudart" 'grep -q libtorch_cuda.so <<<"$needed" && grep -q libc10_cuda.so <<<"$needed" && grep -q libcudart <<<"$needed"'
check "uses CUDA graphs and CUDA streams" 'grep -q "at::cuda::CUDAGraph::replay" <<<"$symbols" && grep -q "c10::cuda::getStreamFromPool" <<<"$symbols"'
info=$(TORCHLOOP_ADDON="$addon" node --import tsx -e "
  const { version, Model } = await import('./lib/index.ts');
  let err = 'none'; try { Model.loadSync('test/fixtures/torch-2.13/mlp_m2.pt', { device: 'cuda' }) } catch (e) { err = e.code }
  console.log(JSON.stringify({ libtorch: version.libtorch, cuda: version.cuda, devices: version.cudaDeviceCount, cudaLoad: err }))" --input-type=module)
echo "      $info"
check "loads in Node against libtorch $(node -p "JSON.parse(process.argv[1]).libtorch" "$info")" 'grep -q "\"libtorch\":\"2\." <<<"$info"'
if nvidia-smi -L >/dev/null 2>&1; then
  check "sees the GPU" 'grep -q "\"cuda\":true" <<<"$info"'
  ./build-cuda/core_check test/fixtures/torch-2.13/mlp_m2.pt 1x48 --device cuda --iters 20000 || fail=1
  TORCHLOOP_ADDON="$PWD/$addon" TORCHLOOP_FIXTURES=test/fixtures/torch-2.13 npx vitest run --project libtorch-2.13 test/gpu || fail=1
else
  check "no GPU here: CUDA is reported absent and asking for it is ERR_DEVICE" 'grep -q "\"cuda\":false" <<<"$info" && grep -q "\"cudaLoad\":\"ERR_DEVICE\"" <<<"$info"'
  echo "      (no GPU: the CUDA tests in test/gpu/ and the CUDA step timings need a machine with one)"
fi
exit $fail
