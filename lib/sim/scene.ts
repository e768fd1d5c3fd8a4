/**
 * What the scope's 3D view draws of a MuJoCo model: its geoms (type, size, colour, mesh) and
 * the meshes' vertices and faces, read from the compiled model (so what is drawn is what
 * MuJoCo simulates, meshdir, scale and all). The poses come separately, per frame, from the
 * entity's `sout_geom_pose` signal.
 */
import { loadMjcf } from './mujoco.ts';

/** mjtGeom values. */
export const GEOM = { plane: 0, hfield: 1, sphere: 2, capsule: 3, ellipsoid: 4, cylinder: 5, box: 6, mesh: 7 } as const;

export interface SceneGeom {
  /** Index in the model (and in sout_geom_pose). */
  id: number;
  type: number;
  size: [number, number, number];
  rgba: [number, number, number, number];
  /** Index into Scene.meshes, or -1. */
  mesh: number;
}

export interface Scene {
  ngeom: number;
  geoms: SceneGeom[];
  /** Per mesh: its vertex and face counts, and where they lie in `data`. */
  meshes: { vertices: number; faces: number; vertexOffset: number; faceOffset: number }[];
  /** Every mesh's vertices (float32 xyz) then every mesh's faces (uint32, 3 per face), little-endian. */
  data: Buffer;
}

/**
 * Reads the drawable scene of an MJCF file. Visual-only geoms (contype and conaffinity 0) are
 * drawn with the planes when the model has any, as MuJoCo's viewer shows its visual group;
 * otherwise every geom is.
 */
export async function sceneOf(modelPath: string): Promise<Scene> {
  const { model } = await loadMjcf(modelPath);
  try {
    const ngeom = model.ngeom as number;
    const type = model.geom_type as Int32Array, size = model.geom_size as Float64Array, rgba = model.geom_rgba as Float32Array;
    const dataid = model.geom_dataid as Int32Array, matid = model.geom_matid as Int32Array, matRgba = model.mat_rgba as Float32Array;
    const contype = model.geom_contype as Int32Array, conaff = model.geom_conaffinity as Int32Array;
    const visualOnly = (g: number) => contype[g] === 0 && conaff[g] === 0;
    let anyVisual = false;
    for (let g = 0; g < ngeom; g++) if (visualOnly(g) && type[g] !== GEOM.plane) anyVisual = true;
    const used = new Map<number, number>();
    const geoms: SceneGeom[] = [];
    for (let g = 0; g < ngeom; g++) {
      if (anyVisual && type[g] !== GEOM.plane && !visualOnly(g)) continue;
      let mesh = -1;
      if (type[g] === GEOM.mesh && dataid[g] >= 0) {
        if (!used.has(dataid[g])) used.set(dataid[g], used.size);
        mesh = used.get(dataid[g])!;
      }
      // A geom's material colour wins over its rgba when it has one, as in MuJoCo.
      const c = matid[g] >= 0 ? matRgba.subarray(4 * matid[g], 4 * matid[g] + 4) : rgba.subarray(4 * g, 4 * g + 4);
      geoms.push({ id: g, type: type[g], size: [size[3 * g], size[3 * g + 1], size[3 * g + 2]], rgba: [c[0], c[1], c[2], c[3]], mesh });
    }
    const vert = model.mesh_vert as Float32Array, face = model.mesh_face as Int32Array;
    const vadr = model.mesh_vertadr as Int32Array, vnum = model.mesh_vertnum as Int32Array;
    const fadr = model.mesh_faceadr as Int32Array, fnum = model.mesh_facenum as Int32Array;
    const order = [...used.entries()].sort((a, b) => a[1] - b[1]).map(([m]) => m);
    const vBytes = order.reduce((s, m) => s + vnum[m] * 12, 0);
    const fBytes = order.reduce((s, m) => s + fnum[m] * 12, 0);
    const data = Buffer.alloc(vBytes + fBytes);
    const meshes: Scene['meshes'] = [];
    let vo = 0, fo = vBytes;
    for (const m of order) {
      const v = new Float32Array(data.buffer, data.byteOffset + vo, vnum[m] * 3);
      v.set(vert.subarray(3 * vadr[m], 3 * (vadr[m] + vnum[m])));
      const f = new Uint32Array(data.buffer, data.byteOffset + fo, fnum[m] * 3);
      f.set(face.subarray(3 * fadr[m], 3 * (fadr[m] + fnum[m])));
      meshes.push({ vertices: vnum[m], faces: fnum[m], vertexOffset: vo, faceOffset: fo });
      vo += vnum[m] * 12;
      fo += fnum[m] * 12;
    }
    return { ngeom, geoms, meshes, data };
  } finally {
    model.delete();
  }
}
