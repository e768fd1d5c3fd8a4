/**
 * The scope page's 3D view (an ES module run in the browser; three.js comes from the
 * server's /scene/three/). It builds the scene once from /scene/info and /scene/meshes, then
 * at the browser's frame rate fetches the latest poses (one request in flight at a time), sets
 * each geom's matrix from them, and keeps the camera at a fixed offset from the followed body.
 *
 * The page sets `data-scene-frames` (frames drawn with a new pose) and `data-scene-tick` on
 * <body>, which the test reads.
 */
export const SCENE_SCRIPT = String.raw`
const status = document.getElementById('scene-status');
let THREE;
try {
  THREE = await import('three');
} catch (e) {
  status.textContent = "The 3D view needs the package 'three' (npm install three): " + e;
  throw e;
}
const info = await (await fetch('/scene/info')).json();
const bin = await (await fetch('/scene/meshes')).arrayBuffer();
const canvas = document.getElementById('scene');
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setClearColor(0xdce4ec);
const scene = new THREE.Scene();
const camera = new THREE.PerspectiveCamera(40, canvas.width / canvas.height, 0.05, 200);
camera.up.set(0, 0, 1);
scene.add(new THREE.HemisphereLight(0xffffff, 0x8899aa, 1.6));
const sun = new THREE.DirectionalLight(0xffffff, 1.6);
sun.position.set(2, -3, 6);
scene.add(sun);

function checker() {
  const c = document.createElement('canvas'); c.width = c.height = 64;
  const g = c.getContext('2d');
  g.fillStyle = '#c9d3dd'; g.fillRect(0, 0, 64, 64);
  g.fillStyle = '#b3c0cc'; g.fillRect(0, 0, 32, 32); g.fillRect(32, 32, 32, 32);
  const t = new THREE.CanvasTexture(c);
  t.wrapS = t.wrapT = THREE.RepeatWrapping; t.repeat.set(40, 40);
  return t;
}
const meshGeometries = info.meshes.map((m) => {
  const g = new THREE.BufferGeometry();
  g.setAttribute('position', new THREE.BufferAttribute(new Float32Array(bin, m.vertexOffset, m.vertices * 3), 3));
  g.setIndex(new THREE.BufferAttribute(new Uint32Array(bin, m.faceOffset, m.faces * 3), 1));
  g.computeVertexNormals();
  return g;
});
// mjtGeom: plane 0, sphere 2, capsule 3, ellipsoid 4, cylinder 5, box 6, mesh 7 (MuJoCo's axis is z, three's is y).
function geometryOf(geom) {
  const [a, b, c] = geom.size;
  switch (geom.type) {
    case 0: return new THREE.PlaneGeometry(a > 0 ? 2 * a : 80, b > 0 ? 2 * b : 80);
    case 2: return new THREE.SphereGeometry(a, 24, 16);
    case 3: return new THREE.CapsuleGeometry(a, 2 * b, 8, 16).rotateX(Math.PI / 2);
    case 4: return new THREE.SphereGeometry(1, 24, 16).scale(a, b, c);
    case 5: return new THREE.CylinderGeometry(a, a, 2 * b, 24).rotateX(Math.PI / 2);
    case 6: return new THREE.BoxGeometry(2 * a, 2 * b, 2 * c);
    case 7: return geom.mesh >= 0 ? meshGeometries[geom.mesh] : null;
    default: return null;
  }
}
const objects = [];
for (const geom of info.geoms) {
  const g = geometryOf(geom);
  if (!g) continue;
  const [r, gr, b, alpha] = geom.rgba;
  const material = geom.type === 0
    ? new THREE.MeshStandardMaterial({ map: checker(), roughness: 0.9 })
    : new THREE.MeshStandardMaterial({ color: new THREE.Color().setRGB(r, gr, b, THREE.SRGBColorSpace), roughness: 0.55, metalness: 0.1, transparent: alpha < 1, opacity: alpha });
  const o = new THREE.Mesh(g, material);
  o.matrixAutoUpdate = false;
  scene.add(o);
  objects.push([geom.id, o]);
}
status.textContent = objects.length + ' geoms, ' + info.meshes.length + ' meshes';

const target = new THREE.Vector3(0, 0, 1);
const offset = new THREE.Vector3(1.6, -2.6, 0.9);
let frames = 0, inFlight = false, latest = null;
function apply(p) {
  for (const [id, o] of objects) {
    const k = 12 * id, v = p.pose;
    o.matrix.set(v[k + 3], v[k + 4], v[k + 5], v[k], v[k + 6], v[k + 7], v[k + 8], v[k + 1], v[k + 9], v[k + 10], v[k + 11], v[k + 2], 0, 0, 0, 1);
  }
  if (p.follow) target.set(p.follow[0], p.follow[1], p.follow[2]);
  frames++;
  document.body.dataset.sceneFrames = String(frames);
  document.body.dataset.sceneTick = String(p.tick);
}
function frame() {
  if (!inFlight) {
    inFlight = true;
    fetch('/scene/pose', { cache: 'no-store' }).then((r) => r.json()).then((p) => { latest = p; }).catch(() => {}).finally(() => { inFlight = false; });
  }
  // Draw only when a new pose came (the loop's rate, at most the browser's frame rate).
  if (latest || frames === 0) {
    if (latest) { apply(latest); latest = null; }
    camera.position.copy(target).add(offset);
    camera.lookAt(target);
    renderer.render(scene, camera);
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
`;
