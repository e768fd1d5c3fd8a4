/**
 * The main demo with a real robot: Unitree's H1 humanoid walks in MuJoCo (the official WASM
 * build) under its published LSTM policy, as unitree_rl_gym's deploy_mujoco.py runs it, in a
 * ControlLoop: the policy at 50 Hz, PD control and physics at 500 Hz, for 10 s. The scope
 * serves a live 3D view of the robot beside the signal plots, and the main thread answers
 * HTTP requests meanwhile (this demo sends them itself and measures its event-loop delay).
 * The code path is `torchloop sim2sim h1.yaml --view` (lib/cli/sim2sim.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pool, version } from '../lib/index.ts';
import { formatSim2Sim, parseCommand, runSim2Sim } from '../lib/cli/sim2sim.ts';

export const USAGE = 'npm run demo [-- --plant h1|arm] [--seconds N] [--scope-port P] [--command vx,vy,wz] [--priority P] [--cpu C]';

export async function walk(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        plant: { type: 'string', default: 'h1' },
        seconds: { type: 'string', default: '10' },
        'scope-port': { type: 'string', default: '0' },
        command: { type: 'string' },
        priority: { type: 'string', default: '80' },
        cpu: { type: 'string', default: '1' },
      },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const opts = parsed.values;
  const seconds = Number(opts.seconds);
  console.log(`torchloop ${version.torchloop}, libtorch ${version.libtorch}, ${version.threads} thread(s); MuJoCo 3.14 (WebAssembly)`);
  console.log(`plant: Unitree H1 in MuJoCo, unitree_rl_gym's LSTM policy (deploy config h1.yaml); policy 50 Hz, PD and physics 500 Hz, ${seconds} s in a ControlLoop`);

  // The main thread's own work while the loop runs: an HTTP server, asked every 10 ms.
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let answered = 0, asked = 0;
  const server = createServer((_req, res) => {
    answered++;
    res.end('ok\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const asker = setInterval(() => {
    asked++;
    fetch(api).then((r) => r.text()).catch(() => {});
  }, 10);
  let printed = 0;
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  const r = await runSim2Sim({
    config: 'h1.yaml', seconds, view: true, scopePort: Number(opts['scope-port']), command: parseCommand(opts.command), abort: abort.signal,
    loopRealtime: { priority: Number(opts.priority), cpu: Number(opts.cpu), lockMemory: false },
    onWarning: (w) => console.log(`note: ${w}`),
    onScope: (scope) => {
      console.log(`scope with the 3D view: ${scope.url}  (open it in a browser; HTTP on the main thread: ${api})`);
      delay.enable();
    },
    onProgress: (loop) => {
      const s = loop.stats();
      const second = Math.floor(s.ticks / 50);
      if (second <= printed) return;
      printed = second;
      const p = loop.signal('sim.sout_base_pos').value;
      console.log(`  t=${String(second).padStart(3)} s  base x=${p[0].toFixed(2)} y=${p[1].toFixed(2)} z=${p[2].toFixed(3)}, jitter p99 ${(s.jitter.p99 * 1000).toFixed(1)} µs, missed ${s.missed}`);
    },
  });
  delay.disable();
  clearInterval(asker);
  await new Promise((res) => setTimeout(res, 50));
  server.close();
  if (r.loop?.realtime.length) console.log(`realtime settings: ${r.loop.realtime.join('; ')}`);
  console.log(`\n${formatSim2Sim(r)}`);
  console.log(`main thread: event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms, max ${(delay.max / 1e6).toFixed(2)} ms; HTTP requests answered during the run: ${answered} of ${asked}`);
  pool.clear();
}
