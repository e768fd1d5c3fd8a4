import { createServer, type Server, type ServerResponse } from 'node:http';
import { announce, httpAccess } from '../http-access.ts';

const PAGE = `<!doctype html><meta charset="utf-8"><title>torchloop: training</title>
<style>body{font:14px sans-serif;margin:20px}canvas{border:1px solid #ccc}</style>
<h3>torchloop: training <span id="s"></span></h3><canvas id="c" width="900" height="360"></canvas>
<script>
const batches=[],epochs=[];const c=document.getElementById('c').getContext('2d');
function draw(){c.clearRect(0,0,900,360);const series=[[batches,'#1f77b4'],[epochs.map(e=>[e.epoch,e.loss]),'#ff7f0e'],[epochs.filter(e=>e.valLoss!==null).map(e=>[e.epoch,e.valLoss]),'#2ca02c']];
for(const [pts,color] of series){if(pts.length<2)continue;const xs=pts.map(p=>p[0]),ys=pts.map(p=>Math.log10(Math.max(p[1],1e-12)));
const [x0,x1,y0,y1]=[Math.min(...xs),Math.max(...xs),Math.min(...ys),Math.max(...ys)];c.strokeStyle=color;c.beginPath();
pts.forEach((p,i)=>{const x=20+(p[0]-x0)/((x1-x0)||1)*860,y=340-(Math.log10(Math.max(p[1],1e-12))-y0)/((y1-y0)||1)*320;i?c.lineTo(x,y):c.moveTo(x,y)});c.stroke();}
document.getElementById('s').textContent=epochs.length?'epoch '+epochs.at(-1).epoch+', loss '+epochs.at(-1).loss.toExponential(3):'';}
const es=new EventSource('/events');es.onmessage=m=>{const d=JSON.parse(m.data);if(d.batch)batches.push(d.batch);if(d.epoch)epochs.push(d.epoch);
if(d.history){epochs.push(...d.history);batches.push(...d.batches)}draw();};
</script>`;

/** A page that streams the training curves (server-sent events): on loopback unless a host is given (then it wants a token). */
export class LivePage {
  readonly url: Promise<string>;
  #server: Server;
  #clients = new Set<ServerResponse>();

  /** Null on loopback; the token a page on another address wants. */
  readonly token: string | null;

  constructor(port: number, snapshot: () => unknown, host?: string) {
    const access = httpAccess('the live page', host);
    this.token = access.token;
    this.#server = createServer((req, res) => {
      if (!access.allow(req, res)) return;
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.write(`data: ${JSON.stringify(snapshot())}\n\n`);
        this.#clients.add(res);
        req.on('close', () => this.#clients.delete(res));
      } else if (req.url === '/' || req.url === '/index.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else res.writeHead(404).end();
    });
    this.url = new Promise((resolve) => this.#server.listen(port, access.host, () => {
      const bound = (this.#server.address() as { port: number }).port;
      announce('the live page', access, bound);
      resolve(access.url(bound));
    }));
    this.#server.unref();
  }

  send(data: unknown): void {
    const line = `data: ${JSON.stringify(data)}\n\n`;
    for (const c of this.#clients) c.write(line);
  }

  close(): void {
    for (const c of this.#clients) c.end();
    this.#server.close();
  }
}
