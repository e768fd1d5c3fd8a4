import { createServer, type Server, type ServerResponse } from 'node:http';
import { announce, httpAccess } from '../http-access.ts';
import { CHART_JS } from './page-chart.ts';
import type { EpochRecord } from './stats.ts';
import type { PredictionFrame } from './prediction.ts';

/**
 * The prediction page: the body as the solver deformed it and as the network predicts it, side
 * by side and coloured by the network's error at each node, the errors per prediction, and the
 * training's loss curves (log scale). Served on 127.0.0.1 by default; the page follows the run by
 * server-sent events. Nothing opens a browser.
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>torchloop: prediction</title>
<style>body{font:13px DejaVu Sans,Arial,sans-serif;margin:16px;color:#222}h3{margin:4px 0}.row{display:flex;gap:12px;flex-wrap:wrap}
canvas{border:1px solid #ccc;background:#fff}#stats{margin:6px 0;font-family:monospace}</style>
<h3>torchloop: the network against the solver <span id="name"></span></h3>
<div id="stats">waiting for the first prediction</div>
<div class="row"><canvas id="solver" width="520" height="320"></canvas><canvas id="network" width="520" height="320"></canvas><canvas id="bar" width="90" height="320"></canvas></div>
<div class="row"><canvas id="errors" width="560" height="280"></canvas><canvas id="loss" width="560" height="280"></canvas></div>
<script>
const S={rest:[],scale:1,spacing:1,history:[],errors:[],frame:null,frames:0,units:'m'};
function heat(t){t=Math.max(0,Math.min(1,t));const r=Math.round(255*Math.min(1,2*t)),g=Math.round(200*(1-Math.abs(2*t-1))),b=Math.round(255*Math.max(0,1-2*t));return 'rgb('+r+','+g+','+b+')';}
function project(p,c){return [c.ox+c.k*(p[0]+0.45*p[1]),c.oy-c.k*(p[2]+0.3*p[1])];}
function body(id,title,disp,err,emax){const cv=document.getElementById(id),g=cv.getContext('2d');g.clearRect(0,0,cv.width,cv.height);
 g.fillStyle='#222';g.font='bold 14px sans-serif';g.fillText(title,10,20);const n=S.rest.length/3;if(!n)return;
 const pts=[];for(let v=0;v<n;v++)pts.push([S.rest[3*v]+S.scale*disp[3*v],S.rest[3*v+1]+S.scale*disp[3*v+1],S.rest[3*v+2]+S.scale*disp[3*v+2]]);
 const rs=[];for(let v=0;v<n;v++)rs.push([S.rest[3*v],S.rest[3*v+1],S.rest[3*v+2]]);
 const xs=rs.map(p=>p[0]+0.45*p[1]),zs=rs.map(p=>p[2]+0.3*p[1]);const w=Math.max(...xs)-Math.min(...xs),h=Math.max(...zs)-Math.min(...zs);
 const k=Math.min((cv.width-80)/(w*1.3||1),(cv.height-80)/(h*2.6||1));const c={k,ox:40-k*Math.min(...xs),oy:cv.height/2+k*(Math.max(...zs)+Math.min(...zs))/2};
 g.strokeStyle='#ddd';g.lineWidth=1;g.setLineDash([4,3]);for(const [a,b] of S.edges){const p=project(rs[a],c),q=project(rs[b],c);g.beginPath();g.moveTo(...p);g.lineTo(...q);g.stroke();}
 g.setLineDash([]);g.strokeStyle='#888';for(const [a,b] of S.edges){const p=project(pts[a],c),q=project(pts[b],c);g.beginPath();g.moveTo(...p);g.lineTo(...q);g.stroke();}
 for(let v=0;v<n;v++){const p=project(pts[v],c);g.fillStyle=err?heat(err[v]/(emax||1)):'#444';g.beginPath();g.arc(p[0],p[1],4,0,7);g.fill();}
 g.fillStyle='#555';g.font='11px sans-serif';g.fillText('grey dashes: the rest shape; displacements drawn x'+S.scale+' (the same in both views)',10,cv.height-10);}
function colorbar(emax){const cv=document.getElementById('bar'),g=cv.getContext('2d');g.clearRect(0,0,cv.width,cv.height);
 for(let i=0;i<240;i++){g.fillStyle=heat(1-i/240);g.fillRect(10,40+i,18,1);}g.fillStyle='#222';g.font='11px sans-serif';
 g.fillText('node error',4,16);g.fillText('('+S.units+')',4,30);for(let i=0;i<=4;i++){const y=40+i*60;g.fillText((emax*(1-i/4)).toExponential(1),32,y+4);}}
${CHART_JS}
function draw(){const f=S.frame;
 if(f){const n=f.truth.length/3,err=[];for(let v=0;v<n;v++)err.push(Math.hypot(f.prediction[3*v]-f.truth[3*v],f.prediction[3*v+1]-f.truth[3*v+1],f.prediction[3*v+2]-f.truth[3*v+2]));
  const emax=Math.max(...err,1e-12);let big=0,xs=[];for(let v=0;v<n;v++){big=Math.max(big,Math.hypot(f.truth[3*v],f.truth[3*v+1],f.truth[3*v+2]));xs.push(S.rest[3*v]);}
  const len=Math.max(...xs)-Math.min(...xs);S.scale=big>0?Math.max(1,Math.round(0.15*len/big)):1;body('solver','solver (MuJoCo, settled in '+f.solverMs.toFixed(1)+' ms)',f.truth,null,emax);
  body('network','network ('+f.networkMs.toFixed(3)+' ms), coloured by error',f.prediction,err,emax);colorbar(emax);
  document.getElementById('stats').textContent='prediction '+(f.index+1)+': mean error '+(100*f.error.mean).toFixed(2)+'%, max '+(100*f.error.max).toFixed(2)+'% of the max displacement; network '+f.networkMs.toFixed(3)+' ms, solver '+f.solverMs.toFixed(1)+' ms: speed-up x'+(f.solverMs/f.networkMs).toFixed(0);}
 chart('errors','Error per prediction','prediction','error (% of max displacement)',[{name:'mean',points:S.errors.map(e=>[e[0],100*e[1]])},{name:'max',points:S.errors.map(e=>[e[0],100*e[2]])}],false);
 chart('loss','Training','epoch','loss (normalized MSE)',[{name:'training',points:S.history.map(e=>[e.epoch,e.loss])},{name:'validation',points:S.history.filter(e=>e.valLoss!==null).map(e=>[e.epoch,e.valLoss])}],true);
 document.body.dataset.frames=S.frames;}
const es=new EventSource('/events');es.onmessage=m=>{const d=JSON.parse(m.data);
 if(d.errors){S.errors=d.errors;S.frames=d.frames;}if(d.init){Object.assign(S,d.init);document.getElementById('name').textContent=d.init.name?'('+d.init.name+')':'';}
 if(d.frame){S.frame=d.frame;S.errors.push([d.frame.index+1,d.frame.error.mean,d.frame.error.max]);S.frames++;}draw();};
</script>`;

export interface PredictionPageInit {
  name: string;
  /** Rest positions of the nodes, [nodes * 3] (m). */
  rest: ArrayLike<number>;
  /** Pairs of node indices drawn as edges. */
  edges: [number, number][];
  /** How much the displacements are magnified in the drawing. */
  scale: number;
  units: string;
  history: EpochRecord[];
}

/** Neighbouring nodes of a regular grid (nodes `spacing` apart): the edges the page draws. */
export function gridEdges(rest: ArrayLike<number>, spacing: number): [number, number][] {
  const n = rest.length / 3, out: [number, number][] = [];
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const d = Math.hypot(rest[3 * a] - rest[3 * b], rest[3 * a + 1] - rest[3 * b + 1], rest[3 * a + 2] - rest[3 * b + 2]);
      if (Math.abs(d - spacing) < 1e-6 * spacing) out.push([a, b]);
    }
  }
  return out;
}

export class PredictionPage {
  readonly url: Promise<string>;
  #server: Server;
  #clients = new Set<ServerResponse>();
  #init: PredictionPageInit | null = null;
  #frame: unknown = null;
  #errors: [number, number, number][] = [];

  /** Null on loopback; the token a page on another address wants. */
  readonly token: string | null;

  /** On 127.0.0.1 unless `host` says otherwise (then the page wants a token, printed at start). */
  constructor(port = 0, host?: string) {
    const access = httpAccess('the prediction page', host);
    this.token = access.token;
    this.#server = createServer((req, res) => {
      if (!access.allow(req, res)) return;
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        if (this.#init) res.write(`data: ${JSON.stringify({ init: this.#init, errors: this.#errors.slice(0, -1), frames: Math.max(0, this.#errors.length - 1) })}\n\n`);
        if (this.#frame) res.write(`data: ${JSON.stringify({ frame: this.#frame })}\n\n`);
        this.#clients.add(res);
        req.on('close', () => this.#clients.delete(res));
      } else if (req.url === '/' || req.url === '/index.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else res.writeHead(404).end();
    });
    this.url = new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, access.host, () => {
        const bound = (this.#server.address() as { port: number }).port;
        announce('the prediction page', access, bound);
        resolve(access.url(bound));
      });
    });
    this.#server.unref();
  }

  init(init: PredictionPageInit): void {
    this.#init = { ...init, rest: Array.from(init.rest) };
    this.#send({ init: this.#init });
  }

  frame(f: PredictionFrame): void {
    this.#errors.push([f.index + 1, f.error.mean, f.error.max]);
    this.#frame = { index: f.index, truth: Array.from(f.truth), prediction: Array.from(f.prediction), error: f.error, networkMs: f.networkMs, solverMs: f.solverMs };
    this.#send({ frame: this.#frame });
  }

  #send(data: unknown): void {
    const line = `data: ${JSON.stringify(data)}\n\n`;
    for (const c of this.#clients) c.write(line);
  }

  close(): Promise<void> {
    for (const c of this.#clients) c.end();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
