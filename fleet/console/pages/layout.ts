/**
 * The console's page shell: responsive CSS (tables scroll sideways on a tablet, the nav wraps),
 * the nav, who is logged in and the logout form, and the live script (a static file: the CSP
 * allows scripts from 'self' only). `data-live` marks the region the script refreshes when the
 * server says something changed; forms go in `controls`, outside it, so a refresh never drops
 * what someone is typing or the file they picked.
 */
import { escapeHtml } from '../../../protocol/web/http';

export interface Viewer { user: string; role: string; csrf: string }

const CSS = `*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;color:#111;background:#fafafa}
header{background:#123;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1.2rem;align-items:center}
header a{color:#cde;text-decoration:none}header a:hover{text-decoration:underline}header .me{margin-left:auto;font-size:.9rem}
header form{display:inline}header button{font-size:.8rem}
main{padding:1rem;max-width:80rem;margin:auto}h1{font-size:1.4rem;margin:.2rem 0 .8rem}h2{font-size:1.1rem;margin-top:1.4rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{padding:.35rem .5rem;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}th{background:#eef}
.ok{color:#075}.bad{color:#b00;font-weight:600}.warn{color:#a60}.muted{color:#777}.spark{color:#0072B2;vertical-align:middle}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin-bottom:1rem}form.filters label{display:flex;flex-direction:column;font-size:.8rem}
input,select,button{font-size:1rem;padding:.35rem}.chart{margin:0}.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3rem 1rem}
.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}.bar{background:#ddd;height:1rem;border-radius:.2rem;overflow:hidden;max-width:30rem}
.bar>span{display:block;height:100%;background:#009E73}.msg{padding:.5rem;border:1px solid #a60;background:#fff8e8}.secret{font-family:monospace;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}@media (max-width:700px){main{padding:.5rem}th,td{padding:.3rem}}`;

/** The whole page. */
export function page(o: { title: string; viewer?: Viewer; body: string; live?: boolean; controls?: string }): string {
  const v = o.viewer;
  const nav = v ? `<nav><a href="/">Fleet</a> · <a href="/rollouts">Rollouts</a> · <a href="/denials">Denials</a> · <a href="/vendors">Vendor access</a> · <a href="/search">Audit search</a>${v.role === 'admin' ? ' · <a href="/users">Users</a> · <a href="/trail">Console trail</a>' : ''}</nav>
<span class="me" id="who">${escapeHtml(v.user)} (${escapeHtml(v.role)}) <form method="post" action="/logout"><input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}"><button type="submit">Log out</button></form></span>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(o.title)} · zonegate fleet</title><style>${CSS}</style>
${o.live ? '<script src="/static/live.js" defer></script>' : ''}</head>
<body><header><strong>zonegate fleet</strong>${nav}</header>
<main><h1>${escapeHtml(o.title)}</h1>${o.controls ?? ''}${o.live ? '<div data-live>' : ''}${o.body}${o.live ? '</div>' : ''}</main></body></html>
`;
}

/** A table (`raw` cells are markup the caller built and escaped). */
export function table(head: string[], rows: { cells: (string | { raw: string })[]; id?: string }[], id?: string): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr${r.id ? ` id="${escapeHtml(r.id)}"` : ''}>${r.cells.map((c) => `<td>${typeof c === 'string' ? escapeHtml(c) : c.raw}</td>`).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table${id ? ` id="${id}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table></div>`;
}

/** A link to `path` with the non-empty `params` as its query. */
export function href(path: string, params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export const iso = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** "12 s ago", "3 min ago", ... */
export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.floor((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/**
 * The live script: an EventSource on /events; on a `change` it fetches the page again (at most
 * once a second) and swaps the `data-live` region. No framework, no build.
 */
export const LIVE_SCRIPT = `(function(){
  var region=document.querySelector('[data-live]');if(!region||!window.EventSource)return;
  var busy=false,again=false;
  function refresh(){if(busy){again=true;return;}busy=true;
    fetch(location.href,{credentials:'same-origin',headers:{'x-live':'1'}}).then(function(r){return r.ok?r.text():null;}).then(function(t){
      if(t){var d=new DOMParser().parseFromString(t,'text/html');var n=d.querySelector('[data-live]');
        var a=document.activeElement;if(n&&!(a&&region.contains(a)&&a.tagName==='INPUT')){region.innerHTML=n.innerHTML;document.body.dataset.updated=String(Date.now());}}
    }).catch(function(){}).then(function(){setTimeout(function(){busy=false;if(again){again=false;refresh();}},1000);});}
  var es=new EventSource('/events');es.addEventListener('change',refresh);
})();
`;
