/**
 * Packages that only some features need (the SQLite sample database, NATS remote
 * environments, PNG plots) are optional peer dependencies: an install for running models
 * does not compile or download them. They are loaded when a feature first uses them; a
 * missing one is an ERR_MISSING_DEPENDENCY that gives the command installing it.
 */
import { createRequire } from 'node:module';
import { TorchError } from './errors.ts';

const require = createRequire(import.meta.url);

/** The install command for each optional package (versions that support Node 20). */
export const OPTIONAL_PACKAGES: Record<string, string> = {
  'better-sqlite3': 'npm install better-sqlite3@12',
  '@nats-io/transport-node': 'npm install @nats-io/transport-node@3.3.1 @nats-io/jetstream@3.3.1',
  '@nats-io/jetstream': 'npm install @nats-io/transport-node@3.3.1 @nats-io/jetstream@3.3.1',
  '@resvg/resvg-js': 'npm install @resvg/resvg-js@2',
  '@mujoco/mujoco': 'npm install @mujoco/mujoco@3.14.0',
};

/** Loads an optional package, or throws ERR_MISSING_DEPENDENCY naming the feature and the fix. */
export function optional<T>(name: keyof typeof OPTIONAL_PACKAGES & string, feature: string): T {
  try {
    return require(name) as T;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND' && err.message.includes(`'${name}'`)) {
      throw new TorchError('ERR_MISSING_DEPENDENCY', `${feature} needs the package '${name}', which is not installed. Install it in your project: ${OPTIONAL_PACKAGES[name]}`);
    }
    throw e;
  }
}
