import { TorchError } from '../errors.ts';
import type { Entity } from './entity.ts';

/**
 * The graph of entities, by name (dynamic-graph's pool). Every entity registers in the
 * default pool unless given another.
 *
 * @example
 * pool.get('pd_controller').signal('sout_torque'); pool.list(); pool.signals('pd_controller');
 */
export class Pool {
  #entities = new Map<string, Entity>();

  /** @internal */
  register(entity: Entity): void {
    if (this.#entities.has(entity.name)) {
      throw new TorchError('ERR_ARGUMENT', `An entity named '${entity.name}' already exists in this pool; names are unique (dispose the old one first)`);
    }
    this.#entities.set(entity.name, entity);
  }

  /** @internal */
  unregister(entity: Entity): void {
    if (this.#entities.get(entity.name) === entity) this.#entities.delete(entity.name);
  }

  has(name: string): boolean {
    return this.#entities.has(name);
  }

  get(name: string): Entity {
    const e = this.#entities.get(name);
    if (!e) {
      throw new TorchError('ERR_NOT_FOUND', `No entity named '${name}' (entities: ${[...this.#entities.keys()].join(', ') || 'none'})`);
    }
    return e;
  }

  /** Names of the entities. */
  list(): string[] {
    return [...this.#entities.keys()];
  }

  /** `entity.signal` paths of one entity, or of all. */
  signals(entityName?: string): string[] {
    const entities = entityName ? [this.get(entityName)] : [...this.#entities.values()];
    return entities.flatMap((e) => e.signalNames().map((s) => `${e.name}.${s}`));
  }

  /** dynamic-graph's `entity.signal` lookup. */
  signal(path: string) {
    const dot = path.indexOf('.');
    if (dot < 0) throw new TorchError('ERR_ARGUMENT', `Expected 'entity.signal' but received '${path}'`);
    return this.get(path.slice(0, dot)).signal(path.slice(dot + 1));
  }

  /** Disposes every entity. */
  clear(): void {
    for (const e of [...this.#entities.values()]) e.dispose();
    this.#entities.clear();
  }
}

/** The default pool. */
export const pool = new Pool();
