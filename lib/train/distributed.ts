import { TorchError, expected } from '../errors.ts';
import { native, type NativeProcessGroup } from '../native.ts';

export interface ProcessGroupOptions {
  rank: number;
  worldSize: number;
  /** The rendezvous (a c10d TCPStore that rank 0 serves): host:port. */
  master: string;
  /** This process's address for Gloo's connections (default: loopback when the master is, else the host name). */
  localHost?: string;
  /** For the rendezvous and every collective; a rank that is gone fails the others at this limit at the latest. */
  timeoutMs?: number;
}

/** Parses host:port (IPv6 in brackets). */
export function parseMaster(master: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(master);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) expected('ERR_ARGUMENT', 'host:port', 'the master address', master);
  return { host: m![1] ?? m![2], port };
}

/**
 * A group of processes training one model (libtorch's c10d: a TCPStore rendezvous and a Gloo
 * process group, the backend PyTorch uses on CPUs). Made by `ProcessGroup.connect()`, handed
 * to `Trainer.attach()`. Collectives fail with ERR_DISTRIBUTED, naming the operation, when a
 * rank has died or the timeout passes; they never wait forever.
 */
export class ProcessGroup implements Disposable {
  /** @internal */
  readonly native: NativeProcessGroup;
  readonly rank: number;
  readonly worldSize: number;

  private constructor(handle: NativeProcessGroup) {
    this.native = handle;
    this.rank = handle.rank();
    this.worldSize = handle.worldSize();
  }

  /** Whether this build can train data-parallel (libtorch 2.x with Gloo's headers), and if not, why. */
  static available(): { available: boolean; why: string } {
    return native.distributedInfo();
  }

  /** Joins the group: resolves when every rank has joined; rejects at the timeout (ERR_DISTRIBUTED). */
  static async connect(options: ProcessGroupOptions): Promise<ProcessGroup> {
    const info = native.distributedInfo();
    if (!info.available) throw new TorchError('ERR_UNSUPPORTED', `Data-parallel training is not available: ${info.why}`);
    const { host, port } = parseMaster(options.master);
    return new ProcessGroup(
      await native.connectProcessGroup({ rank: options.rank, worldSize: options.worldSize, masterHost: host, masterPort: port, localHost: options.localHost, timeoutMs: options.timeoutMs ?? 60_000 }),
    );
  }

  /** Sums the values across the group, in place. */
  allreduce(values: Float32Array | Float64Array): void {
    this.native.allreduce(values);
  }

  /** The mean of each value across the group (a new array). */
  mean(values: number[]): number[] {
    const a = Float64Array.from(values);
    this.native.allreduce(a);
    return Array.from(a, (v) => v / this.worldSize);
  }

  barrier(): void {
    this.native.barrier();
  }

  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
