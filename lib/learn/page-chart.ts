/**
 * Axis ticks, and the line chart the pages draw in the browser (the prediction page, the live
 * training curves): a title, labelled axes with units, tick values, a legend, and a log scale
 * on demand. The ticks are written once, as JavaScript the pages run; `ticks()` runs the same
 * text here, for the SVG/PNG plots (plots.ts).
 */

/**
 * `ticks(lo, hi, log, int)`: an axis's extent and ticks for data from lo to hi (log10 of the
 * data on a log axis). Linear: 1, 2 or 5 times a power of ten apart, about five of them, whole
 * numbers when `int`. Log: the powers of ten around the data (every other one, or fewer, past
 * six decades), with 2 and 5 times them when the data spans two decades or less. Returns
 * `{ lo, hi, values }`: the extent in the axis's units, and the tick values in the data's.
 */
const TICKS_JS = `function ticks(lo,hi,log,int){
 if(!(hi>lo)){const d=log?0.5:(Math.abs(lo)*0.1||0.5);lo-=d;hi+=d;}
 const tidy=v=>+v.toPrecision(12),out=[];
 if(log){const a=Math.floor(lo+1e-9)+0,b=Math.ceil(hi-1e-9)+0,every=Math.ceil((b-a)/6),ms=b-a<=2?[1,2,5]:[1];
  for(let e=a;e<=b;e+=every)for(const m of ms){const v=tidy(m*10**e);if(Math.log10(v)<=b+1e-9)out.push(v);}
  return {lo:a,hi:b,values:out};}
 const raw=(hi-lo)/5,p=10**Math.floor(Math.log10(raw)),m=raw/p;let step=(m<1.5?1:m<3?2:m<7?5:10)*p;if(int)step=Math.max(1,Math.round(step));
 const k0=Math.floor(lo/step+1e-9),k1=Math.ceil(hi/step-1e-9);
 for(let k=k0;k<=k1;k++)out.push(tidy(k*step));
 return {lo:out[0],hi:out.at(-1),values:out};}
function tickText(v){return String(+v.toPrecision(6));}`;

export interface Ticks {
  lo: number;
  hi: number;
  values: number[];
}

export const { ticks, tickText } = new Function(`${TICKS_JS}\nreturn { ticks, tickText };`)() as {
  ticks: (lo: number, hi: number, log: boolean, int?: boolean) => Ticks;
  tickText: (v: number) => string;
};

/** `chart(canvasId, title, xLabel, yLabel, [{ name, points: [[x, y], ...] }], log)`. */
export const CHART_JS = `const COL=['#1f77b4','#ff7f0e','#2ca02c','#d62728'];
${TICKS_JS}
function chart(id,title,xl,yl,series,log){const cv=document.getElementById(id),g=cv.getContext('2d');g.clearRect(0,0,cv.width,cv.height);
 const L=78,R=130,T=30,B=42,W=cv.width,H=cv.height;g.fillStyle='#222';g.font='bold 13px sans-serif';g.fillText(title,L,18);
 const all=series.flatMap(s=>s.points).filter(p=>Number.isFinite(p[1])&&(!log||p[1]>0));
 g.strokeStyle='#333';g.beginPath();g.moveTo(L,T);g.lineTo(L,H-B);g.lineTo(W-R,H-B);g.stroke();g.font='11px sans-serif';
 g.fillText(xl,(L+W-R)/2-20,H-8);g.save();g.translate(12,(T+H-B)/2);g.rotate(-Math.PI/2);g.textAlign='center';g.fillText(yl+(log?' (log)':''),0,0);g.restore();
 if(!all.length)return;const f=y=>log?Math.log10(y):y;const xs=all.map(p=>p[0]),ys=all.map(p=>f(p[1]));
 let [x0,x1,y0,y1]=[Math.min(...xs),Math.max(...xs),Math.min(...ys),Math.max(...ys)];if(!log&&y0>0)y0=0;
 const tx=ticks(x0,x1,false,xs.every(Number.isInteger)),ty=ticks(y0,y1,log);[x0,x1,y0,y1]=[tx.lo,tx.hi,ty.lo,ty.hi];
 const px=x=>L+(x-x0)/((x1-x0)||1)*(W-L-R),py=y=>T+(1-(f(y)-y0)/((y1-y0)||1))*(H-T-B);
 for(const v of ty.values){const y=py(v);g.strokeStyle='#eee';g.beginPath();g.moveTo(L,y);g.lineTo(W-R,y);g.stroke();g.fillStyle='#333';g.textAlign='right';g.fillText(tickText(v),L-5,y+4);}
 g.textAlign='center';for(const v of tx.values)g.fillText(tickText(v),px(v),H-B+14);g.textAlign='left';
 series.forEach((s,i)=>{const pts=s.points.filter(p=>Number.isFinite(p[1])&&(!log||p[1]>0));g.strokeStyle=COL[i%4];g.lineWidth=1.6;g.beginPath();
  pts.forEach((p,j)=>j?g.lineTo(px(p[0]),py(p[1])):g.moveTo(px(p[0]),py(p[1])));g.stroke();g.fillStyle=COL[i%4];g.fillRect(W-R+10,T+6+i*18,14,3);g.fillStyle='#222';g.fillText(s.name,W-R+28,T+10+i*18);});g.lineWidth=1;}`;
