import { createServer, type Server, type ServerResponse } from 'node:http';
import { announce, httpAccess } from '../http-access.ts';
import { CHART_JS } from './page-chart.ts';

const PAGE = `<!doctype html><meta charset="utf-8"><title>torchloop: training</title>
<style>body{font:13px DejaVu Sans,Arial,sans-serif;margin:16px}canvas{border:1px solid #ccc}</style>
<h3>torchloop: training <span id="s"></span></h3>
<canvas id="epochs" width="620" height="320"></canvas> <canvas id="batches" width="620" height="320"></canvas>
<script>
${CHART_JS}
const batches=[],epochs=[];
function draw(){
 chart('epochs','Epochs','epoch','loss',[{name:'training',points:epochs.map(e=>[e.epoch,e.loss])},{name:'validation',points:epochs.filter(e=>e.valLoss!==null).map(e=>[e.epoch,e.valLoss])}],true);
 chart('batches','Batches','step (batches)','loss',[{name:'batch loss',points:batches}],true);
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
