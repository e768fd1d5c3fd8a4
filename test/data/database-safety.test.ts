// The sample database under kills, foreign files and corruption (issue 11): creation is
// atomic, a SQLite file that is not a torchloop dataset is refused and left untouched, and
// SQLite's own failures are TorchErrors (ERR_DATABASE) naming the file.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatabaseManager, TorchError } from '../../lib/index.ts';
import { caught } from '../helpers/caught.ts';

const Sqlite = createRequire(import.meta.url)('better-sqlite3');
const tmp = () => mkdtempSync(path.join(tmpdir(), 'tl-dbsafe-'));
const fields = [{ name: 'x', shape: [64] }, { name: 'y', shape: [8] }];


describe('creating a dataset', () => {
  it('killed with SIGKILL at random moments while creating datasets: every dataset there is complete, and none is half-made', async () => {
    const dir = tmp();
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/create-writer.ts', dir, String(round)], { stdio: ['ignore', 'pipe', 'inherit'] });
      // Once the loop runs (a first dataset done), kill at a moment that differs each round.
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, (round * 37) % 150));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      for (const f of readdirSync(dir).filter((f) => /^ds-\d+-\d+\.sqlite$/.test(f))) {
        using db = DatabaseManager.open(path.join(dir, f), { readonly: true });
        expect(db.fields.map((x) => x.name)).toEqual(['x', 'y']);
        expect([0, 10]).toContain(db.count('training')); // the batch after creation: all or nothing
      }
    }
    // Each round waited for its first dataset, so at least one per round is there, whole.
    expect(readdirSync(dir).filter((f) => /^ds-\d+-\d+\.sqlite$/.test(f)).length).toBeGreaterThanOrEqual(12);
    // Temporary files of interrupted creations go when their dataset is next opened.
    for (const f of readdirSync(dir).filter((f) => f.includes('.creating-'))) {
      DatabaseManager.open(path.join(dir, f.slice(0, f.indexOf('.creating-'))), { fields }).close();
    }
    expect(readdirSync(dir).filter((f) => f.includes('.creating-'))).toEqual([]);
  }, 120_000);

  it('a dataset carries torchloop\'s identity (application_id, user_version)', () => {
    const file = path.join(tmp(), 'id.sqlite');
    DatabaseManager.open(file, { fields }).close();
    const db = new Sqlite(file, { readonly: true });
    expect(db.pragma('application_id', { simple: true })).toBe(0x746c7370);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    db.close();
  });
});

describe('files that are not torchloop datasets', () => {
  it('another application\'s SQLite file is refused and left untouched: no tables added, no WAL, no -wal/-shm files', () => {
    const file = path.join(tmp(), 'theirs.sqlite');
    const theirs = new Sqlite(file);
    theirs.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES (\'keep me\')');
    theirs.close();
    const before = readFileSync(file), mtime = statSync(file).mtimeMs;
    const e = caught(() => DatabaseManager.open(file, { fields }));
    expect(e.code).toBe('ERR_DATABASE');
    expect(e.message).toMatch(/theirs\.sqlite' is a SQLite file of another application, not a torchloop dataset; torchloop does not write into it/);
    expect(caught(() => DatabaseManager.open(file)).code).toBe('ERR_DATABASE');
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(statSync(file).mtimeMs).toBe(mtime);
    expect(existsSync(`${file}-wal`) || existsSync(`${file}-shm`)).toBe(false);
    const check = new Sqlite(file, { readonly: true });
    expect(check.pragma('journal_mode', { simple: true })).toBe('delete');
    check.close();
  });

  it('a file that is not SQLite at all is an ERR_DATABASE naming it, and is not changed', () => {
    const file = path.join(tmp(), 'random.sqlite');
    const bytes = Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 131) % 251));
    writeFileSync(file, bytes);
    const e = caught(() => DatabaseManager.open(file, { fields }));
    expect(e.code).toBe('ERR_DATABASE');
    expect(e.message).toMatch(/random\.sqlite/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('a corrupted dataset gives ERR_DATABASE, not a raw SqliteError', () => {
    const file = path.join(tmp(), 'corrupt.sqlite');
    const db = DatabaseManager.open(file, { fields });
    for (let b = 0; b < 20; b++) db.add('training', { x: new Float32Array(64 * 100).fill(b), y: new Float32Array(800) }, 100);
    db.close();
    const bytes = readFileSync(file);
    for (let at = 8192; at < bytes.length - 4096; at += 4096) bytes.fill(0xa5, at + 100, at + 3000); // damage every page's content
    writeFileSync(file, bytes);
    const errors: TorchError[] = [];
    try {
      using again = DatabaseManager.open(file);
      for (const b of again.batches('training', 256)) void b;
      again.recomputeNormalization('training');
    } catch (e) {
      errors.push(e as TorchError);
    }
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(TorchError);
    expect(errors[0].code).toBe('ERR_DATABASE');
    expect(errors[0].message).toMatch(/corrupt\.sqlite.*SQLITE_/);
  });

  it('a dataset from before the identity (its meta table names the format) still opens, and gets the id', () => {
    const file = path.join(tmp(), 'legacy.sqlite');
    const db = new Sqlite(file);
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('format', 'torchloop-samples/1');
      CREATE TABLE fields (name TEXT PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, kind TEXT NOT NULL, position INTEGER NOT NULL);
      INSERT INTO fields VALUES ('x', 'float32', '[2]', 'training', 0);
      CREATE TABLE samples (id INTEGER PRIMARY KEY, mode TEXT NOT NULL, "x" BLOB NOT NULL);
      CREATE TABLE normalization (mode TEXT NOT NULL, field TEXT NOT NULL, count INTEGER NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL, PRIMARY KEY (mode, field));`);
    db.close();
    using legacy = DatabaseManager.open(file);
    legacy.add('training', { x: new Float32Array([1, 2]) }, 1);
    expect(legacy.count('training')).toBe(1);
    expect(legacy.query<{ application_id: number }>('PRAGMA application_id')[0].application_id).toBe(0x746c7370);
  });
});
