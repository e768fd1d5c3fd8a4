import { existsSync, linkSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { TorchError, describe } from '../errors.ts';
import { optional } from '../optional.ts';
import { Tensor, type DType } from '../tensor.ts';
import { encodeSafetensors } from '../train/safetensors.ts';
import { ARRAY_FOR, allocate, makeField, type Field, type FieldArray, type FieldSpec, type FieldValues } from './fields.ts';
import { Random } from './random.ts';

export type Mode = 'training' | 'validation' | 'prediction';
const MODES: Mode[] = ['training', 'validation', 'prediction'];
const FORMAT = 'torchloop-samples/1';
/** PRAGMA application_id of a torchloop dataset ("tlsp"); user_version is the layout's version. */
const APPLICATION_ID = 0x746c7370;
const LAYOUT_VERSION = 1;

// A new dataset: built in <file>.creating-<pid>-<n>, already in WAL mode (so that opening it
// never switches modes, which takes a rollback journal that a kill would leave hot), checkpointed,
// then linked in place (link fails if another process made the file meanwhile: theirs stands).
function create(Database: typeof BetterSqlite3, file: string, fields: Field[]): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.creating-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    const db = new Database(tmp);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${LAYOUT_VERSION}`);
      const columns = fields.map((f) => `"${f.name}" BLOB NOT NULL`).join(', ');
      db.transaction(() => {
        db.exec(`
          CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
          CREATE TABLE fields (name TEXT PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, kind TEXT NOT NULL, position INTEGER NOT NULL);
          CREATE TABLE samples (id INTEGER PRIMARY KEY, mode TEXT NOT NULL, ${columns});
          CREATE INDEX samples_mode ON samples (mode, id);
          CREATE TABLE normalization (mode TEXT NOT NULL, field TEXT NOT NULL, count INTEGER NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL, PRIMARY KEY (mode, field));`);
        const meta = db.prepare('INSERT INTO meta VALUES (?, ?)');
        meta.run('format', FORMAT);
        meta.run('created', new Date().toISOString());
        const field = db.prepare('INSERT INTO fields VALUES (?, ?, ?, ?, ?)');
        fields.forEach((f, i) => field.run(f.name, f.dtype, JSON.stringify(f.shape), f.kind, i));
      })();
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  } catch (e) {
    throw databaseError(file, e);
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) rmSync(f, { force: true });
  }
}

// Temporary files of creations whose process died (killed mid-creation).
function removeStaleCreations(file: string): void {
  const dir = path.dirname(path.resolve(file)), base = path.basename(file);
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    const m = f.startsWith(`${base}.creating-`) ? /\.creating-(\d+)-\w+(-journal|-wal|-shm)?$/.exec(f) : null;
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (!alive) rmSync(path.join(dir, f), { force: true });
  }
}

/** A SQLite failure as a TorchError naming the dataset (other errors pass through). */
function databaseError(file: string, e: unknown): Error {
  if (e instanceof TorchError) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    return new TorchError('ERR_DATABASE', `The dataset '${file}' cannot be used (${code}): ${(e as Error).message}`);
  }
  return e as Error;
}


/** Per-field normalization: mean and standard deviation over every element of every sample of a mode. */
export interface Normalization {
  count: number;
  mean: number;
  std: number;
}

/**
 * The sample database: one SQLite file per dataset (better-sqlite3, WAL).
 *
 * Layout (documented so that Python's sqlite3 + numpy read it without torchloop):
 * - `meta(key, value)`: `format` = torchloop-samples/1, `created`;
 * - `fields(name, dtype, shape, kind, position)`: shape is a JSON array, dtype a numpy name;
 * - `samples(id INTEGER PRIMARY KEY, mode TEXT, "<field>" BLOB, ...)`: one row per sample,
 *   each field's value as raw little-endian bytes (`numpy.frombuffer(blob, dtype).reshape(shape)`);
 * - `normalization(mode, field, count, mean, m2)`: running statistics (Chan/Welford), std = sqrt(m2 / count).
 *
 * @example
 * const db = DatabaseManager.open('data/chain.sqlite', { fields: env.fields });
 * db.add('training', batch, 256); db.batches('training', 256, { shuffle: true, seed: 1 });
 */
export class DatabaseManager implements Disposable {
  readonly file: string;
  readonly #db: BetterSqlite3.Database;
  #fields: Field[] = [];
  #insert: BetterSqlite3.Statement | null = null;
  #byId = new Map<number, BetterSqlite3.Statement>();

  private constructor(file: string, db: BetterSqlite3.Database) {
    this.file = file;
    this.#db = db;
  }

  /**
   * Opens or creates a dataset. Fields are required to create one and, when given for an
   * existing one, must match it. A new dataset is made whole in a temporary file and then put
   * in place at once, so that a process killed meanwhile leaves no dataset or a complete one.
   * A SQLite file that is not a torchloop dataset (no application_id of ours) is refused, and
   * left untouched.
   */
  static open(file: string, options: { fields?: (FieldSpec & { kind?: Field['kind'] })[] | Field[]; readonly?: boolean } = {}): DatabaseManager {
    const Database = optional<typeof BetterSqlite3>('better-sqlite3', 'The sample database');
    removeStaleCreations(file);
    if (!existsSync(file)) {
      if (options.readonly) throw new TorchError('ERR_NOT_FOUND', `No dataset at '${file}'`);
      if (!options.fields || options.fields.length === 0) throw new TorchError('ERR_ARGUMENT', `Creating the dataset '${file}' needs its fields`);
      create(Database, file, options.fields.map((s) => makeField(s, (s as Field).kind ?? 'training')));
    }
    let db: BetterSqlite3.Database;
    try {
      db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: true });
    } catch (e) {
      throw databaseError(file, e);
    }
    const m = new DatabaseManager(file, db);
    try {
      m.#checkIdentity(options.readonly ?? false);
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
      }
      m.#loadFields(options.fields);
    } catch (e) {
      db.close();
      throw databaseError(file, e);
    }
    return m;
  }

  // Ours when it carries torchloop's application_id; a dataset from before the id (its meta
  // table names the format) is ours too, and gets the id when opened for writing.
  #checkIdentity(readonly: boolean): void {
    const id = this.#db.pragma('application_id', { simple: true }) as number;
    if (id === APPLICATION_ID) return;
    const legacy = id === 0 && !!this.#db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").get() &&
      (this.#db.prepare("SELECT value FROM meta WHERE key='format'").get() as { value: string } | undefined)?.value === FORMAT;
    if (!legacy) {
      throw new TorchError('ERR_DATABASE', `'${this.file}' is a SQLite file of another application${id ? ` (application_id ${id})` : ''}, not a torchloop dataset; torchloop does not write into it. Choose another path.`);
    }
    if (!readonly) this.#db.pragma(`application_id = ${APPLICATION_ID}`);
  }

  #loadFields(specs?: (FieldSpec & { kind?: Field['kind'] })[]): void {
    const rows = this.#db.prepare('SELECT name, dtype, shape, kind FROM fields ORDER BY position').all() as { name: string; dtype: string; shape: string; kind: string }[];
    this.#fields = rows.map((r) => makeField({ name: r.name, shape: JSON.parse(r.shape), dtype: r.dtype as never }, r.kind as Field['kind']));
    if (!specs) return;
    for (const w of specs.map((s) => makeField(s, (s as Field).kind ?? 'training'))) {
      const have = this.#fields.find((f) => f.name === w.name);
      if (!have || have.dtype !== w.dtype || have.shape.join() !== w.shape.join()) {
        throw new TorchError('ERR_SHAPE', `Dataset '${this.file}' stores ${have ? `field '${w.name}' as ${have.dtype} [${have.shape}]` : `no field '${w.name}'`}, not ${w.dtype} [${w.shape}]`);
      }
    }
  }

  // Runs a body that touches SQLite: a corrupt or vanished file is an ERR_DATABASE naming the dataset.
  #sql<T>(body: () => T): T {
    try {
      return body();
    } catch (e) {
      throw databaseError(this.file, e);
    }
  }

  get fields(): Field[] {
    return this.#fields;
  }

  /** Samples stored for a mode. */
  count(mode: Mode): number {
    return this.#sql(() => {
      checkMode(mode);
      return (this.#db.prepare('SELECT count(*) AS n FROM samples WHERE mode = ?').get(mode) as { n: number }).n;
    });
  }

  /**
   * Adds `size` samples (each field's array holds them one after another) in one transaction,
   * and folds them into the stored normalization. A sample with NaN, or an array of the wrong
   * length, is rejected with the field named, and nothing of the batch is written.
   */
  add(mode: Mode, values: FieldValues, size: number, options: { batchKey?: string } = {}): number[] {
    return this.#sql(() => {
      checkMode(mode);
      for (const f of this.#fields) {
        const a = values[f.name];
        if (!a) throw new TorchError('ERR_ARGUMENT', `The batch has no field '${f.name}' (dataset fields: ${this.#fields.map((x) => x.name).join(', ')})`);
        if (!(a instanceof ARRAY_FOR[f.dtype])) throw new TorchError('ERR_DTYPE', `Expected a ${ARRAY_FOR[f.dtype].name} for field '${f.name}' but received ${describe(a)}`);
        if (a.length !== f.size * size) throw new TorchError('ERR_SHAPE', `Expected ${f.size * size} values for field '${f.name}' (${size} samples of [${f.shape}]) but received ${a.length}`);
        if (f.dtype === 'float32' || f.dtype === 'float64') {
          for (let i = 0; i < a.length; i++) {
            if (!Number.isFinite((a as Float32Array)[i])) {
              throw new TorchError('ERR_ARGUMENT', `Field '${f.name}' of sample ${Math.floor(i / f.size)} has ${(a as Float32Array)[i]} at index ${i % f.size}: samples must be finite`);
            }
          }
        }
      }
      this.#insert ??= this.#db.prepare(`INSERT INTO samples (mode, ${this.#fields.map((f) => `"${f.name}"`).join(', ')}) VALUES (?, ${this.#fields.map(() => '?').join(', ')})`);
      const insert = this.#insert;
      const ids: number[] = new Array(size);
      const args: unknown[] = new Array(this.#fields.length + 1);
      args[0] = mode;
      if (options.batchKey !== undefined) {
        this.#db.exec('CREATE TABLE IF NOT EXISTS received_batches (key TEXT PRIMARY KEY, mode TEXT NOT NULL, samples INTEGER NOT NULL)');
      }
      const write = this.#db.transaction((): number[] => {
        // A keyed batch (from a remote client) is stored once: a redelivered one is skipped.
        if (options.batchKey !== undefined) {
          const fresh = this.#db.prepare('INSERT OR IGNORE INTO received_batches VALUES (?, ?, ?)').run(options.batchKey, mode, size).changes;
          if (fresh === 0) return [];
        }
        for (let s = 0; s < size; s++) {
          for (let j = 0; j < this.#fields.length; j++) {
            const f = this.#fields[j];
            const a = values[f.name];
            const bytes = ARRAY_FOR[f.dtype].BYTES_PER_ELEMENT * f.size;
            args[j + 1] = Buffer.from(a.buffer, a.byteOffset + s * bytes, bytes);
          }
          ids[s] = Number(insert.run(...args).lastInsertRowid);
        }
        this.#foldNormalization(mode, values, size);
        return ids;
      });
      const written = write();
      if (written.length) this.#ids.delete(mode); // cached ids of this mode are stale
      return written;
    });
  }

  #foldNormalization(mode: Mode, values: FieldValues, size: number): void {
    const get = this.#db.prepare('SELECT count, mean, m2 FROM normalization WHERE mode = ? AND field = ?');
    const put = this.#db.prepare('INSERT OR REPLACE INTO normalization VALUES (?, ?, ?, ?, ?)');
    for (const f of this.#fields) {
      if (f.dtype === 'int64') continue;
      const a = values[f.name] as Float32Array;
      const n = f.size * size;
      let mean = 0, m2 = 0;
      for (let i = 0; i < n; i++) {
        const d = a[i] - mean;
        mean += d / (i + 1);
        m2 += d * (a[i] - mean);
      }
      const old = get.get(mode, f.name) as { count: number; mean: number; m2: number } | undefined;
      if (old && old.count > 0) {
        // Chan et al.: merge two sets' running statistics.
        const total = old.count + n;
        const delta = mean - old.mean;
        put.run(mode, f.name, total, old.mean + (delta * n) / total, old.m2 + m2 + (delta * delta * old.count * n) / total);
      } else {
        put.run(mode, f.name, n, mean, m2);
      }
    }
  }

  /** Per-field mean and std of a mode, as stored. */
  normalization(mode: Mode = 'training'): Record<string, Normalization> {
    return this.#sql(() => {
      const rows = this.#db.prepare('SELECT field, count, mean, m2 FROM normalization WHERE mode = ?').all(mode) as { field: string; count: number; mean: number; m2: number }[];
      return Object.fromEntries(rows.map((r) => [r.field, { count: r.count, mean: r.mean, std: r.count > 0 ? Math.sqrt(r.m2 / r.count) : 0 }]));
    });
  }

  /** Recomputes the normalization of a mode from every stored sample. */
  recomputeNormalization(mode: Mode = 'training'): Record<string, Normalization> {
    return this.#sql(() => {
      checkMode(mode);
      const tx = this.#db.transaction(() => {
        this.#db.prepare('DELETE FROM normalization WHERE mode = ?').run(mode);
        const ids = this.ids(mode);
        for (let at = 0; at < ids.length; at += 1024) {
          const chunk = ids.subarray(at, at + 1024);
          this.#foldNormalization(mode, this.read(chunk), chunk.length);
        }
      });
      tx();
      return this.normalization(mode);
    });
  }

  #ids = new Map<Mode, Int32Array>();

  /** Sample ids of a mode, in insertion order (a copy: callers may shuffle it). */
  ids(mode: Mode): Int32Array {
    return this.#sql(() => {
      checkMode(mode);
      let ids = this.#ids.get(mode);
      if (!ids) {
        const rows = this.#db.prepare('SELECT id FROM samples WHERE mode = ? ORDER BY id').raw().all(mode) as [number][];
        ids = Int32Array.from(rows, (r) => r[0]);
        this.#ids.set(mode, ids);
      }
      return ids.slice();
    });
  }

  /** Reads samples by id (random access) into batch arrays, in the order given. */
  read(ids: ArrayLike<number>): FieldValues {
    return this.#sql(() => {
      const n = ids.length;
      let stmt = this.#byId.get(n);
      if (!stmt) {
        stmt = this.#db.prepare(`SELECT id, ${this.#fields.map((f) => `"${f.name}"`).join(', ')} FROM samples WHERE id IN (${new Array(n).fill('?').join(',')})`).raw();
        this.#byId.set(n, stmt);
      }
      const rows = stmt.all(...(ids as number[])) as unknown[][];
      if (rows.length !== n) throw new TorchError('ERR_NOT_FOUND', `${n - rows.length} of the requested samples are not in '${this.file}'`);
      const position = new Map<number, number>();
      for (let i = 0; i < n; i++) position.set(ids[i], i);
      const out: FieldValues = {};
      // One Buffer view per field; each row's blob is copied into place natively.
      const views: Buffer[] = [];
      const sizes: number[] = [];
      for (const f of this.#fields) {
        const a = allocate(f, n);
        out[f.name] = a;
        views.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
        sizes.push(ARRAY_FOR[f.dtype].BYTES_PER_ELEMENT * f.size);
      }
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r];
        const at = position.get(row[0] as number)!;
        for (let j = 0; j < views.length; j++) (row[j + 1] as Buffer).copy(views[j], at * sizes[j]);
      }
      return out;
    });
  }

  /** Batches of a mode for one epoch, shuffled with a seed (or in order), each of `size` samples (the last may be smaller). */
  *batches(mode: Mode, size: number, options: { shuffle?: boolean; seed?: number; dropLast?: boolean } = {}): Generator<FieldValues, void> {
    const ids = this.ids(mode);
    if (options.shuffle ?? true) {
      const rnd = new Random(options.seed ?? 0);
      for (let i = ids.length - 1; i > 0; i--) {
        const j = Math.floor(rnd.next() * (i + 1));
        [ids[i], ids[j]] = [ids[j], ids[i]];
      }
    }
    for (let at = 0; at < ids.length; at += size) {
      const chunk = ids.subarray(at, Math.min(ids.length, at + size));
      if (chunk.length < size && options.dropLast) return;
      yield this.read(chunk);
    }
  }

  /** Writes each field of a mode as `<dir>/<mode>_<field>.npy` (shape [samples, ...field shape]). */
  exportNpy(dir: string, mode: Mode = 'training'): string[] {
    mkdirSync(dir, { recursive: true });
    const ids = this.ids(mode);
    const all = this.read(ids);
    return this.#fields.map((f) => {
      const file = path.join(dir, `${mode}_${f.name}.npy`);
      writeFileSync(file, npy(all[f.name], [ids.length, ...f.shape], f.dtype));
      return file;
    });
  }

  /** Writes every field of a mode as one safetensors file (tensors named by field). */
  exportSafetensors(file: string, mode: Mode = 'training'): void {
    const ids = this.ids(mode);
    const all = this.read(ids);
    const tensors: Record<string, Tensor> = {};
    for (const f of this.#fields) tensors[f.name] = new Tensor(all[f.name] as never, [ids.length, ...f.shape], f.dtype as DType);
    writeFileSync(file, encodeSafetensors(tensors, { format: FORMAT, mode }));
  }

  /**
   * Runs a read-only SQL statement and returns its rows (for inspecting a dataset: counts,
   * PRAGMA integrity_check, the tables documented above). Writes go through add().
   */
  query<Row = Record<string, unknown>>(sql: string, ...params: (string | number | bigint | null)[]): Row[] {
    return this.#sql(() => {
      const stmt = this.#db.prepare(sql);
      if (!stmt.reader) throw new TorchError('ERR_ARGUMENT', `Expected a statement that returns rows for query() but received '${sql.slice(0, 60)}'`);
      return stmt.all(...params) as Row[];
    });
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function checkMode(mode: string): asserts mode is Mode {
  if (!MODES.includes(mode as Mode)) throw new TorchError('ERR_ARGUMENT', `Expected 'training', 'validation' or 'prediction' for the mode but received ${describe(mode)}`);
}

const NPY_DESCR: Record<string, string> = { float32: '<f4', float64: '<f8', int32: '<i4', int64: '<i8', uint8: '|u1' };

/** NumPy .npy v1.0 bytes for a C-order array. */
export function npy(data: FieldArray, shape: number[], dtype: string): Buffer {
  let header = `{'descr': '${NPY_DESCR[dtype]}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}
