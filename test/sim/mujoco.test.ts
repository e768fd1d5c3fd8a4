// MuJoCo (the official WASM build) as a dynamic-graph entity, on small MJCF files written
// here: state outputs, ctrl and PD inputs, bad files and a diverging simulation as TorchErrors.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlLoop, MujocoEntity, TorchError } from '../../lib/index.ts';
import { mjcfFiles } from '../../lib/sim/mujoco.ts';
import { sceneOf } from '../../lib/sim/scene.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'torchloop-mjcf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string | Buffer): string {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

// A free-floating box, and a two-link arm on hinges with motors, a sensor, and a mesh in a
// subfolder named by <compiler meshdir>.
// A binary STL tetrahedron (MuJoCo's own decoder; the WASM build has no PLY or OBJ decoder).
function stl(tris: number[][][]): Buffer {
  const b = Buffer.alloc(84 + 50 * tris.length);
  b.writeUInt32LE(tris.length, 80);
  tris.forEach((tri, i) => tri.forEach((v, j) => v.forEach((x, k) => b.writeFloatLE(x, 84 + 50 * i + 12 + 12 * j + 4 * k))));
  return b;
}
const V = [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0, 0, 0.1]];
const TETRA = stl([[V[0], V[2], V[1]], [V[0], V[1], V[3]], [V[0], V[3], V[2]], [V[1], V[2], V[3]]]);
write('assets/tetra.stl', TETRA);
const ARM = write('arm.xml', `<mujoco model="arm">
  <compiler meshdir="assets" angle="radian"/>
  <option timestep="0.002"/>
  <asset><mesh name="tetra" file="tetra.stl"/></asset>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 0.05"/>
    <body name="box" pos="1 0 0.5"><freejoint/><geom type="box" size="0.05 0.05 0.05" mass="1"/></body>
    <body name="upper" pos="0 0 1">
      <joint name="shoulder" type="hinge" axis="0 1 0" damping="0.1"/>
      <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03" mass="1"/>
      <body name="lower" pos="0.3 0 0">
        <joint name="elbow" type="hinge" axis="0 1 0" damping="0.1"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03" mass="1"/>
        <geom type="mesh" mesh="tetra" pos="0.3 0 0" contype="0" conaffinity="0"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="m_elbow" joint="elbow"/>
    <motor name="m_shoulder" joint="shoulder"/>
  </actuator>
  <sensor><jointpos name="elbow_angle" joint="elbow"/></sensor>
</mujoco>`);

describe('MujocoEntity', () => {
  it('outputs the state, names the actuated joints in actuator order, and steps N physics steps a tick', async () => {
    const arm = await MujocoEntity.load('arm', { model: ARM, substeps: 5 });
    try {
      expect(arm.jointNames).toEqual(['elbow', 'shoulder']);
      expect(arm.sensorNames).toEqual(['elbow_angle']);
      expect(arm.signalNames()).toEqual(expect.arrayContaining(['sin_ctrl', 'sout_qpos', 'sout_qvel', 'sout_time', 'sout_base_pos', 'sout_base_quat', 'sout_joint_pos', 'sout_joint_vel', 'sout_sensor_elbow_angle', 'sout_geom_pose']));
      const pos = arm.output('sout_base_pos');
      pos.recompute(0);
      expect(Array.from(pos.value as Float64Array)).toEqual([1, 0, 0.5]);
      for (let t = 1; t <= 100; t++) arm.increment(t);
      expect(arm.steps).toBe(500);
      arm.output('sout_time').recompute(101);
      expect((arm.output('sout_time').value as Float64Array)[0]).toBeCloseTo(1.0, 9);
      // The box fell to the floor (half its size above it); the unactuated arm swung down.
      pos.recompute(101);
      expect((pos.value as Float64Array)[2]).toBeCloseTo(0.05, 2);
      const q = arm.output('sout_joint_pos');
      q.recompute(101);
      const elbow = (q.value as Float64Array)[0];
      // Sensors are MuJoCo's, computed in the step's forward pass (before its integration).
      const sensor = arm.output('sout_sensor_elbow_angle');
      sensor.recompute(101);
      expect((sensor.value as Float64Array)[0]).toBeCloseTo(elbow, 1);
      expect(Math.abs((q.value as Float64Array)[1])).toBeGreaterThan(0.3);
    } finally {
      arm.dispose();
    }
  });

  it('warms up on a scratch state: its own state and step count are untouched', async () => {
    const a = await MujocoEntity.load('a', { model: ARM, control: 'pd', kp: 50, kd: 1 });
    const b = await MujocoEntity.load('b', { model: ARM, control: 'pd', kp: 50, kd: 1 });
    try {
      expect(a.warmup(500)).toBeGreaterThan(0);
      expect(a.steps).toBe(0);
      for (let t = 0; t < 20; t++) {
        a.increment(t);
        b.increment(t);
      }
      const qa = a.output('sout_qpos'), qb = b.output('sout_qpos');
      qa.recompute(20);
      qb.recompute(20);
      expect(Array.from(qa.value as Float64Array)).toEqual(Array.from(qb.value as Float64Array));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('applies ctrl, and PD targets at the physics rate', async () => {
    const free = await MujocoEntity.load('free', { model: ARM });
    const pushed = await MujocoEntity.load('pushed', { model: ARM });
    const pd = await MujocoEntity.load('pd', { model: ARM, substeps: 10, control: 'pd', kp: [300, 600], kd: 5 });
    try {
      // A torque on the elbow turns it the way of the torque, relative to gravity alone.
      pushed.input('sin_ctrl').value = [-5, 0];
      for (let t = 0; t < 50; t++) {
        free.increment(t);
        pushed.increment(t);
      }
      const q = free.output('sout_joint_pos'), qp = pushed.output('sout_joint_pos');
      q.recompute(50);
      qp.recompute(50);
      expect((qp.value as Float64Array)[0] - (q.value as Float64Array)[0]).toBeLessThan(-0.3);

      pd.input('sin_target').value = [0.3, -0.2];
      for (let t = 0; t < 300; t++) pd.increment(t);
      const p = pd.output('sout_joint_pos');
      p.recompute(300);
      // Gravity leaves a steady-state error of torque/kp; within a few hundredths of a radian.
      expect((p.value as Float64Array)[0]).toBeCloseTo(0.3, 1);
      expect((p.value as Float64Array)[1]).toBeCloseTo(-0.2, 1);
      expect(() => (pd.input('sin_kp').value = [1, 2, 3])).toThrow(TorchError);
    } finally {
      free.dispose();
      pushed.dispose();
      pd.dispose();
    }
  });

  it('stops a simulation that blows up with ERR_SIM naming the file and the tick', async () => {
    const arm = await MujocoEntity.load('arm', { model: ARM, control: 'pd', kp: 1e9, kd: 0 });
    try {
      arm.input('sin_target').value = [1, -1];
      let err: TorchError | undefined;
      for (let t = 0; t < 200 && !err; t++) {
        try {
          arm.increment(t);
        } catch (e) {
          err = e as TorchError;
        }
      }
      expect(err).toBeInstanceOf(TorchError);
      expect(err!.code).toBe('ERR_SIM');
      expect(err!.message).toContain(ARM);
      expect(err!.message).toMatch(/became unstable at tick \d+ .*MuJoCo reset the state \(bad/);
    } finally {
      arm.dispose();
    }
  });

  it('refuses a control that MuJoCo would silently zero (not finite, or over 1e10)', async () => {
    const arm = await MujocoEntity.load('arm', { model: ARM });
    const pd = await MujocoEntity.load('pd', { model: ARM, control: 'pd', kp: 1e12, kd: 0 });
    try {
      arm.input('sin_ctrl').value = [0, Number.NaN];
      const e1 = (() => { try { arm.increment(0); } catch (e) { return e as TorchError; } })();
      expect(e1?.code).toBe('ERR_SIM');
      expect(e1?.message).toContain('actuator 1 (shoulder)');
      pd.input('sin_target').value = [1e3, 0];
      const e2 = (() => { try { pd.increment(0); } catch (e) { return e as TorchError; } })();
      expect(e2?.code).toBe('ERR_SIM');
      expect(e2?.message).toMatch(/actuator 0 \(elbow\).*tick 0 is kp \(target - q\)/);
    } finally {
      arm.dispose();
      pd.dispose();
    }
  });

  it('names the element that references a missing mesh, and gives MuJoCo\'s message for a malformed file', async () => {
    const missing = write('missing.xml', `<mujoco>\n  <asset>\n    <mesh name="gone" file="nowhere/gone.stl"/>\n  </asset>\n  <worldbody><geom type="mesh" mesh="gone"/></worldbody>\n</mujoco>`);
    const e1 = await MujocoEntity.load('m', { model: missing }).catch((e) => e);
    expect(e1).toBeInstanceOf(TorchError);
    expect(e1.code).toBe('ERR_NOT_FOUND');
    expect(e1.message).toContain(path.join(dir, 'nowhere', 'gone.stl'));
    expect(e1.message).toContain(`<mesh name="gone"> at ${missing}:3`);

    const malformed = write('malformed.xml', '<mujoco><worldbody><body><geom type="sphere" size="0.1"/></body></worldbody>');
    const e2 = await MujocoEntity.load('m', { model: malformed }).catch((e) => e);
    expect(e2).toBeInstanceOf(TorchError);
    expect(e2.code).toBe('ERR_SIM');
    expect(e2.message).toContain(malformed);

    const unknown = write('unknown.xml', '<mujoco><worldbody><geom type="sphere" size="0.1" colour="red"/></worldbody></mujoco>');
    const e3 = await MujocoEntity.load('m', { model: unknown }).catch((e) => e);
    expect(e3.code).toBe('ERR_SIM');
    expect(e3.message).toMatch(/colour/);

    const e4 = await MujocoEntity.load('m', { model: path.join(dir, 'absent.xml') }).catch((e) => e);
    expect(e4.code).toBe('ERR_NOT_FOUND');
  });

  it('lists every file a model reads, through includes and meshdir', () => {
    const inc = write('inc.xml', `<mujoco><include file="arm.xml"/></mujoco>`);
    expect(mjcfFiles(inc).map((f) => f.path)).toEqual([inc, ARM, path.join(dir, 'assets', 'tetra.stl')]);
  });

  it('describes its scene for the 3D view: visual geoms, the plane, and mesh data', async () => {
    const s = await sceneOf(ARM);
    // Visual-only geoms exist (the tetra), so the collision geoms other than planes are left out.
    expect(s.geoms.map((g) => g.type)).toEqual([0, 7]);
    expect(s.meshes).toHaveLength(1);
    expect(s.meshes[0].faces).toBe(4);
    const faces = new Uint32Array(s.data.buffer, s.data.byteOffset + s.meshes[0].faceOffset, 12);
    expect(Math.max(...faces)).toBeLessThan(s.meshes[0].vertices);
  });

  it('runs as a ControlLoop plant, its state shared with the main thread', async () => {
    const loop = new ControlLoop({ module: pathToFileURL(path.resolve('test/helpers/sim-graphs.ts')), export: 'arm', options: { model: ARM }, hz: 200, signals: ['arm.sout_time', 'arm.sin_ctrl'] });
    await loop.start();
    try {
      loop.signal('arm.sin_ctrl').value = [1, 0];
      const time = loop.signal('arm.sout_time');
      while (time.value[0] <= 0.1) await new Promise((r) => setTimeout(r, 10));
      expect(time.value[0]).toBeGreaterThan(0.1);
    } finally {
      const stats = await loop.stop();
      expect(stats.ticks).toBeGreaterThan(10);
    }
  });

  it('stops a ControlLoop cleanly when its simulation diverges: an error event with ERR_SIM, and stop() returns', async () => {
    const loop = new ControlLoop({ module: pathToFileURL(path.resolve('test/helpers/sim-graphs.ts')), export: 'diverging', options: { model: ARM }, hz: 200, signals: ['arm.sout_time'] });
    const failed = new Promise<TorchError>((resolve) => loop.once('error', resolve));
    await loop.start();
    const e = await failed;
    expect(e.code).toBe('ERR_SIM');
    expect(e.message).toContain(ARM);
    const stats = await loop.stop();
    expect(loop.running).toBe(false);
    expect(stats.ticks).toBeGreaterThan(0);
  });
});
