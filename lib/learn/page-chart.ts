/**
 * The line chart the pages draw in the browser (the prediction page, the live training curves):
 * a title, labelled axes with units, tick values, a legend, and a log scale on demand.
 * `chart(canvasId, title, xLabel, yLabel, [{ name, points: [[x, y], ...] }], log)`.
 */
export const CHART_JS = `const COL=['#1f77b4','#ff7f0e','#2ca02c','#d62728'];
function chart(id,title,xl,yl,series,log){const cv=document.getElementById(id),g=cv.getContext('2d');g.clearRect(0,0,cv.width,cv.height);
 const L=78,R=130,T=30,B=42,W=cv.width,H=cv.height;g.fillStyle='#222';g.font='bold 13px sans-serif';g.fillText(title,L,18);
 const all=series.flatMap(s=>s.points).filter(p=>Number.isFinite(p[1])&&(!log||p[1]>0));
 g.strokeStyle='#333';g.beginPath();g.moveTo(L,T);g.lineTo(L,H-B);g.lineTo(W-R,H-B);g.stroke();g.font='11px sans-serif';
 g.fillText(xl,(L+W-R)/2-20,H-8);g.save();g.translate(12,(T+H-B)/2);g.rotate(-Math.PI/2);g.textAlign='center';g.fillText(yl+(log?' (log)':''),0,0);g.restore();
 if(!all.length)return;const f=y=>log?Math.log10(y):y;const xs=all.map(p=>p[0]),ys=all.map(p=>f(p[1]));
 let [x0,x1,y0,y1]=[Math.min(...xs),Math.max(...xs),Math.min(...ys),Math.max(...ys)];if(y1-y0<1e-12){y0-=0.5;y1+=0.5;}if(!log&&y0>0)y0=0;
 const px=x=>L+(x-x0)/((x1-x0)||1)*(W-L-R),py=y=>T+(1-(f(y)-y0)/((y1-y0)||1))*(H-T-B);
 for(let i=0;i<=4;i++){const yv=y0+(y1-y0)*i/4,v=log?10**yv:yv,y=T+(1-i/4)*(H-T-B);g.strokeStyle='#eee';g.beginPath();g.moveTo(L,y);g.lineTo(W-R,y);g.stroke();
  g.fillStyle='#333';g.textAlign='right';g.fillText(log?v.toExponential(1):+v.toPrecision(3)+'',L-5,y+4);g.textAlign='left';const xv=x0+(x1-x0)*i/4;g.fillText(+xv.toPrecision(4)+'',px(xv)-8,H-B+14);}
 series.forEach((s,i)=>{const pts=s.points.filter(p=>Number.isFinite(p[1])&&(!log||p[1]>0));g.strokeStyle=COL[i%4];g.lineWidth=1.6;g.beginPath();
  pts.forEach((p,j)=>j?g.lineTo(px(p[0]),py(p[1])):g.moveTo(px(p[0]),py(p[1])));g.stroke();g.fillStyle=COL[i%4];g.fillRect(W-R+10,T+6+i*18,14,3);g.fillStyle='#222';g.fillText(s.name,W-R+28,T+10+i*18);});g.lineWidth=1;}`;
