/** Stable error codes carried by every {@link TorchError}. */
export type TorchErrorCode =
  | 'ERR_MODEL_LOAD'
  | 'ERR_ARGUMENT'
  | 'ERR_DTYPE'
  | 'ERR_SHAPE'
  | 'ERR_DISPOSED'
  | 'ERR_RUNTIME'
  | 'ERR_DEVICE'
  | 'ERR_NOT_FOUND'
  /** A collective failed: a rank died, left or timed out (data-parallel training). */
  | 'ERR_DISTRIBUTED'
  /** This build cannot do it (say, data-parallel training on a libtorch without Gloo). */
  | 'ERR_UNSUPPORTED'
  | 'ERR_NATIVE_LOAD'
  | 'ERR_MISSING_DEPENDENCY'
  | 'ERR_DATABASE'
  /** A simulator refused a model or diverged (MuJoCo). */
  | 'ERR_SIM'
  /** A server refused torchloop's credentials or TLS (NATS); the message names the method, never the secret. */
  | 'ERR_AUTH'
  /** Something a worker was handed that it may not run (a path outside its base folder, a module not allowed). */
  | 'ERR_FORBIDDEN';

/**
 * The one error type torchloop throws. Native code constructs it too (registered through
 * lib/native.ts), so a failure inside libtorch arrives with a `code` and a message that
 * names the argument and what was expected, without a C++ backtrace.
 *
 * @example
 * try { m.forwardSync(x) } catch (e) { if (e instanceof TorchError && e.code === 'ERR_SHAPE') ... }
 */
export class TorchError extends Error {
  readonly code: TorchErrorCode;
  constructor(code: TorchErrorCode, message: string) {
    super(message);
    this.name = 'TorchError';
    this.code = code;
  }
}

/** Describes a value for "Expected X for Y but received Z" messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `string '${value.length > 40 ? value.slice(0, 40) + '...' : value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  if (typeof value === 'function') return 'a function';
  return `an object (${(value as object).constructor?.name ?? 'Object'})`;
}

/** Throws a TorchError "Expected {expected} for {what} but received {value}". */
export function expected(code: TorchErrorCode, expectedWhat: string, what: string, value: unknown): never {
  throw new TorchError(code, `Expected ${expectedWhat} for ${what} but received ${describe(value)}`);
}
