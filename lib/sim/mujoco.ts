/**
 * MuJoCo, Google DeepMind's official WebAssembly build (`@mujoco/mujoco`, an optional peer
 * dependency loaded on first use), and the loading of an MJCF model with every file it
 * references.
 *
 * The WASM module reads files from its own in-memory filesystem. loadMjcf() reads the model
 * file, follows its `<include>`s and `<compiler meshdir/texturedir/assetdir>`, checks that
 * every referenced file exists (naming the element and line that references a missing one),
 * and writes them under the same absolute paths into that filesystem, so that MuJoCo resolves
 * relative paths as it would on disk. Every failure is a TorchError.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { TorchError } from '../errors.ts';
import { OPTIONAL_PACKAGES } from '../optional.ts';

/** The part of the WASM module's API torchloop uses (see `@mujoco/mujoco`'s mujoco.d.ts). */
export interface MujocoModule {
  FS: { mkdirTree(path: string): void; writeFile(path: string, data: Uint8Array | string): void; unlink(path: string): void; analyzePath(path: string): { exists: boolean } };
  MjModel: { from_xml_path(path: string): MjModel };
  MjData: new (model: MjModel) => MjData;
  mj_step(m: MjModel, d: MjData): void;
  mj_forward(m: MjModel, d: MjData): void;
  mj_resetData(m: MjModel, d: MjData): void;
  mj_id2name(m: MjModel, type: number, id: number): string;
  mjtObj: Record<string, { value: number }>;
  HEAPU8: Uint8Array;
}
/* eslint-disable @typescript-eslint/no-explicit-any */
export type MjModel = { [k: string]: any; delete(): void };
export type MjData = { [k: string]: any; delete(): void };

let loading: Promise<MujocoModule> | undefined;

/** The WASM module, instantiated once per thread. */
export function loadMujoco(): Promise<MujocoModule> {
  loading ??= (async () => {
    let mod: { default: () => Promise<MujocoModule> };
    try {
      mod = (await import('@mujoco/mujoco' as string)) as typeof mod;
    } catch (e) {
      loading = undefined;
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes('@mujoco/mujoco')) {
        throw new TorchError('ERR_MISSING_DEPENDENCY', `MuJoCo simulation needs the package '@mujoco/mujoco', which is not installed. Install it in your project: ${OPTIONAL_PACKAGES['@mujoco/mujoco']}`);
      }
      throw e;
    }
    return mod.default();
  })();
  return loading;
}

/** One file an MJCF model reads, and where it is referenced. */
export interface MjcfFile {
  path: string;
  /** `<element name=...>` at file:line that references it (the model file itself: 'model'). */
  referencedBy: string;
}

interface Dirs {
  mesh: string;
  texture: string;
}

/** Tags whose `file` attribute names an asset, and the directory it is relative to. */
const ASSET_DIR: Record<string, keyof Dirs | 'model'> = { mesh: 'mesh', skin: 'mesh', texture: 'texture', hfield: 'texture', model: 'model' };

/**
 * The files a model reads: the model file, its includes, and every asset with a `file`
 * attribute. A missing file is ERR_NOT_FOUND naming the element that references it.
 */
export function mjcfFiles(modelPath: string): MjcfFile[] {
  const main = path.resolve(modelPath);
  if (!existsSync(main) || !statSync(main).isFile()) throw new TorchError('ERR_NOT_FOUND', `No MJCF model file '${modelPath}'`);
  const modelDir = path.dirname(main);
  const dirs: Dirs = { mesh: modelDir, texture: modelDir };
  const files: MjcfFile[] = [{ path: main, referencedBy: 'model' }];
  const seen = new Set([main]);
  const visit = (file: string, depth: number): void => {
    if (depth > 16) throw new TorchError('ERR_SIM', `'${file}': <include> nests more than 16 deep (an include cycle?)`);
    const text = readFileSync(file, 'utf8').replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
    for (const tag of text.matchAll(/<([A-Za-z_][\w.-]*)(\s[^<>]*?)?\/?>/g)) {
      const name = tag[1], attrs = parseAttributes(tag[2] ?? '');
      const line = text.slice(0, tag.index).split('\n').length;
      const where = `<${name}${attrs.name ? ` name="${attrs.name}"` : ''}> at ${file}:${line}`;
      if (name === 'compiler') {
        if (attrs.assetdir !== undefined) dirs.mesh = dirs.texture = path.resolve(modelDir, attrs.assetdir);
        if (attrs.meshdir !== undefined) dirs.mesh = path.resolve(modelDir, attrs.meshdir);
        if (attrs.texturedir !== undefined) dirs.texture = path.resolve(modelDir, attrs.texturedir);
        continue;
      }
      if (attrs.file === undefined) continue;
      if (name === 'include') {
        const inc = path.resolve(modelDir, attrs.file);
        check(inc, where);
        if (!seen.has(inc)) {
          seen.add(inc);
          files.push({ path: inc, referencedBy: where });
          visit(inc, depth + 1);
        }
        continue;
      }
      const kind = ASSET_DIR[name];
      if (!kind) continue;
      const base = kind === 'model' ? modelDir : dirs[kind];
      const asset = path.resolve(base, attrs.file);
      check(asset, where);
      if (!seen.has(asset)) {
        seen.add(asset);
        files.push({ path: asset, referencedBy: where });
      }
    }
  };
  visit(main, 0);
  return files;
}

function check(file: string, where: string): void {
  if (!existsSync(file)) throw new TorchError('ERR_NOT_FOUND', `${where} references '${file}', which does not exist`);
}

function parseAttributes(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out[m[1]] = m[2] ?? m[3];
  return out;
}

let mounted = 0;

/**
 * Loads an MJCF model and its files into MuJoCo: the compiled model, ready for MjData.
 * A compile error (malformed XML, an unknown element, a bad mesh) is ERR_SIM with MuJoCo's
 * own message, which names the element and line.
 */
export async function loadMjcf(modelPath: string): Promise<{ mj: MujocoModule; model: MjModel; files: MjcfFile[] }> {
  const files = mjcfFiles(modelPath);
  const mj = await loadMujoco();
  // Each load gets its own root, so two models with the same paths do not see each other's files.
  const root = `/torchloop/${++mounted}`;
  for (const f of files) {
    const at = root + f.path;
    mj.FS.mkdirTree(path.posix.dirname(at));
    mj.FS.writeFile(at, readFileSync(f.path));
  }
  try {
    return { mj, model: mj.MjModel.from_xml_path(root + files[0].path), files };
  } catch (e) {
    const raw = e instanceof Error ? e.message : typeof e === 'number' ? `an exception (${String(e)})` : String(e);
    const message = raw.replaceAll(root, '').replace(/^MuJoCo Error:\s*/, '').trim() || 'MuJoCo refused it without a message';
    throw new TorchError('ERR_SIM', `MuJoCo cannot load '${modelPath}': ${message}`);
  } finally {
    for (const f of files) {
      try {
        mj.FS.unlink(root + f.path);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Compiles an MJCF model given as text (no file references): a model generated in code, such
 * as the beam environment's. `name` only names it in errors.
 */
export async function loadMjcfText(xml: string, name: string): Promise<{ mj: MujocoModule; model: MjModel }> {
  const mj = await loadMujoco();
  const at = `/torchloop/${++mounted}/${name}`;
  mj.FS.mkdirTree(path.posix.dirname(at));
  mj.FS.writeFile(at, xml);
  try {
    return { mj, model: mj.MjModel.from_xml_path(at) };
  } catch (e) {
    const raw = e instanceof Error ? e.message : String(e);
    throw new TorchError('ERR_SIM', `MuJoCo cannot load the generated model '${name}': ${raw.replace(/^MuJoCo Error:\s*/, '').trim()}`);
  } finally {
    mj.FS.unlink(at);
  }
}

/** Names of objects of one kind, by id ('' where unnamed). */
export function names(mj: MujocoModule, model: MjModel, kind: 'joint' | 'actuator' | 'sensor' | 'body' | 'geom' | 'mesh', count: number): string[] {
  const type = mj.mjtObj[`mjOBJ_${kind.toUpperCase()}`].value;
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(mj.mj_id2name(model, type, i) ?? '');
  return out;
}
