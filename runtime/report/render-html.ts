/**
 * The compliance report as one self-contained HTML page: inline CSS, the decisions chart as
 * inline SVG, no scripts and no external resources (it opens offline, prints, and archives).
 */
import { decisionsChartSvg } from './chart-svg';
import { isoTime, type ComplianceReport } from './model';
import { sectionTables, type ReportSection } from './section';
import { BUILTIN_REPORT_SECTIONS } from './sections/builtin';

/** HTML-escapes text. */
export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c] as string));
}

function table(head: string[], rows: (string | number)[][], o: { raw?: boolean[]; cls?: string } = {}): string {
  if (rows.length === 0) return '<p class="none">None.</p>';
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c, i) => `<td${typeof c === 'number' ? ' class="n"' : ''}>${o.raw?.[i] ? c : escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table${o.cls ? ` class="${o.cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

const chips = (xs: string[], cls = 'chip'): string => xs.map((x) => `<span class="${cls}">${escapeHtml(x)}</span>`).join(' ');
const sl = (n: number | null): string => (n === null ? '<span class="sl">–</span>' : `<span class="sl sl${n}">SL ${n}</span>`);

const CSS = `
:root{--ink:#1f2933;--muted:#5b6470;--line:#d9dee4;--bg:#f6f7f9;--ok:#2f8f5b;--bad:#c8463d;--warn:#b7791f;--accent:#24557a}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:28px 32px 60px;background:#fff;min-height:100vh}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--accent);color:var(--accent)}
h3{font-size:15px;margin:22px 0 8px}.meta{color:var(--muted);margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:14px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:12px}
.card.ok b{color:var(--ok)}.card.bad b{color:var(--bad)}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}tbody tr:nth-child(even){background:#fafbfc}
.chip{display:inline-block;background:#eef1f4;border-radius:3px;padding:0 5px;margin:1px 0;font-size:12px;white-space:nowrap}
.req{display:inline-block;border-radius:3px;padding:0 5px;margin:1px 0;font-size:12px;background:#e8f0f7;color:#24557a}
.req.monitor{background:#fdf3e1;color:var(--warn)}.req.vendor{background:#fbe9e7;color:var(--bad)}
.sl{display:inline-block;min-width:40px;text-align:center;border-radius:3px;color:#fff;font-size:12px;padding:0 4px;background:#8a939e}
.sl1{background:#7aa7c7}.sl2{background:#4f86ad}.sl3{background:#24557a}.sl4{background:#13324a}
.verdict{padding:10px 14px;border-radius:6px;margin:10px 0}.verdict.ok{background:#e6f4ec;border:1px solid #a6d5b9}.verdict.bad{background:#fbe9e7;border:1px solid #eeb1aa}
.none{color:var(--muted);font-style:italic}.note{color:var(--muted);font-size:13px}
.chart{border:1px solid var(--line);border-radius:6px;padding:8px;margin:8px 0 14px}
.two{display:grid;grid-template-columns:1fr 1fr;gap:18px}@media (max-width:900px){.two{grid-template-columns:1fr}}
code{font-size:12px;background:#eef1f4;padding:0 3px;border-radius:3px}
@media print{body{background:#fff}main{padding:0}h2{break-after:avoid}table{break-inside:auto}tr{break-inside:avoid}}
`;

/** Renders the report as a self-contained HTML document. */
export function renderHtml(r: ComplianceReport, sections: readonly ReportSection[] = BUILTIN_REPORT_SECTIONS): string {
  const inv = r.inventory;
  const h = r.history;
  const o: string[] = [];
  o.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(r.title)}</title><style>${CSS}</style></head><body><main>`);
  o.push(`<h1>${escapeHtml(r.title)}</h1>`);
  o.push(`<p class="meta">Site <b>${escapeHtml(inv.site)}</b> · generated ${escapeHtml(isoTime(r.generatedAt))} · policy ${escapeHtml(r.policy.source)} <code>${escapeHtml(r.policy.file)}</code>${r.policy.version ? ` version ${escapeHtml(r.policy.version)}` : ''} · sha256 <code>${escapeHtml(r.policy.sha256.slice(0, 16))}…</code>${r.audit ? `<br>Audit log <code>${escapeHtml(r.audit.dir)}</code>${r.audit.device ? ` (device ${escapeHtml(r.audit.device)})` : ''} · period ${escapeHtml(isoTime(r.period.from))} to ${escapeHtml(isoTime(r.period.to))}` : ''}</p>`);
  o.push('<div class="cards">');
  o.push(`<div class="card"><b>${inv.counts.zones}</b><span>zones</span></div><div class="card"><b>${inv.counts.assets}</b><span>assets</span></div><div class="card"><b>${inv.counts.conduits}</b><span>allowed paths (default deny)</span></div><div class="card"><b>${inv.vendorPaths.length}</b><span>vendor paths</span></div>`);
  if (h) o.push(`<div class="card ok"><b>${h.decisions.allow}</b><span>allowed requests</span></div><div class="card ok"><b>${h.allowedConnections}</b><span>allowed connections</span></div><div class="card bad"><b>${h.decisions.deny}</b><span>denied decisions</span></div><div class="card ${h.verify?.ok === false ? 'bad' : 'ok'}"><b>${h.verify ? (h.verify.ok ? (h.verify.pinned ? 'verified' : 'not pinned') : 'FAILED') : 'n/a'}</b><span>audit chain</span></div>`);
  o.push('</div>');

  if (h) summaryHtml(o, h);
  inventoryHtml(o, inv);
  accessHtml(o, inv);
  if (h) eventsHtml(o, h, sections);
  o.push(`<p class="note">Generated by zonegate from the policy and the hash-chained audit log. Verify the log independently with <code>zonegate audit verify DIR --key device-key.pub</code>.</p>`);
  o.push('</main></body></html>\n');
  return o.join('\n');
}

type History = NonNullable<ComplianceReport['history']>;
type Inventory = ComplianceReport['inventory'];

// The period at a glance: the chain's verdict, the totals, the chart and the decision tables.
function summaryHtml(o: string[], h: History): void {
  o.push('<h2>Summary of the period</h2>');
  if (h.verify) {
    o.push(h.verify.ok
      ? `<div class="verdict ${h.verify.pinned ? 'ok' : 'bad'}">${h.verify.pinned ? 'Audit log verified under the pinned device key' : 'Audit log chain intact, but not verified against a pinned device key (the key the log names was believed)'}: ${h.verify.records} record${h.verify.records === 1 ? '' : 's'}, seq ${h.verify.firstSeq}..${h.verify.lastSeq}, ${h.verify.checkpoints} signed checkpoint${h.verify.checkpoints === 1 ? '' : 's'}, device key ${escapeHtml(h.verify.key ?? 'none')}. ${h.gaps.length ? `${h.gaps.length} recorded gap(s), listed below.` : 'No gaps.'}</div>`
      : `<div class="verdict bad"><b>The audit log does NOT verify:</b> ${escapeHtml(h.verify.error)}. The figures cover what could be read and must not be relied on.</div>`);
  }
  o.push(`<p>${h.records} records: <b>${h.decisions.allow}</b> allowed requests, ${h.allowedConnections} allowed connections${h.decisions.monitor ? ` (${h.decisions.monitor} in monitor mode)` : ''}, <b>${h.decisions.deny}</b> denied${h.summarisedDenials ? ` (${h.summarisedDenials} counted in deny-flood summaries)` : ''}, ${h.malformed} malformed; ${h.logins.ok} logins, ${h.logins.failed} failed logins, ${h.activations.length} policy events, ${h.breakGlass.length} break-glass events.</p>`);
  o.push(`<h3>Decisions over time</h3><div class="chart">${decisionsChartSvg({ buckets: h.timeline.buckets, bucketMs: h.timeline.bucketMs })}</div>`);
  o.push('<div class="two"><div>');
  o.push('<h3>Denied per reason</h3>' + table(['Reason', 'Denied'], h.perReason.map((x) => [x.reason, x.count])));
  o.push('</div><div>');
  o.push('<h3>Top denied sources</h3>' + table(['Source', 'Identity', 'Denied', 'Reasons'], h.topDeniedSources.map((s) => [s.source, s.identity ?? '', s.deny, chips(s.reasons)]), { raw: [false, false, false, true] }));
  o.push('</div></div>');
  o.push('<div class="two"><div>');
  o.push('<h3>Allowed per path</h3>' + table(['Path', 'Allowed', 'Monitor'], h.perConduit.map((c) => [c.conduit, c.allow, c.monitor])));
  o.push('</div><div>');
  o.push('<h3>Per asset</h3>' + table(['Asset', 'Allowed', 'Denied'], h.perAsset.map((a) => [a.asset, a.allow, a.deny])));
  o.push('</div></div>');
  o.push(`<h3>Per source${h.perSourceCount > h.perSource.length ? ` <span class="note">the ${h.perSource.length} busiest of ${h.perSourceCount}</span>` : ''}</h3>` + table(['Source', 'Identity', 'Allowed', 'Denied'], h.perSource.map((s) => [s.source, s.identity ?? '', s.allow, s.deny])));
}

// The zones, assets, conduits between zones and every allowed path (IEC 62443-3-2).
function inventoryHtml(o: string[], inv: Inventory): void {
  o.push('<h2>Zones <span class="note">IEC 62443-3-2 ZCR 3: zones with their target security level</span></h2>');
  o.push(table(['Zone', 'SL-T', 'Networks', 'Interfaces', 'Assets', 'Identities', 'Description'],
    inv.zones.map((z) => [escapeHtml(z.id), sl(z.securityLevel), chips(z.networks), chips(z.interfaces), chips(z.assets.map((a) => a.id)), chips(z.identities.map((i) => i.id)), escapeHtml(z.description ?? '')]), { raw: [true, true, true, true, true, true, true] }));
  o.push('<h3>Assets</h3>' + table(['Asset', 'Zone', 'Kind', 'Addresses', 'Services', 'Description'],
    inv.zones.flatMap((z) => z.assets.map((a) => [a.id, z.id, a.kind, a.addresses.join(', '), a.services.join(', '), a.description ?? '']))));

  o.push('<h2>Conduits <span class="note">IEC 62443-3-2 ZCR 3.5: the communication between zones</span></h2>');
  o.push(table(['From zone', '', 'To zone', '', 'Paths'], inv.zoneConduits.map((c) => [escapeHtml(c.fromZone), sl(c.fromLevel), escapeHtml(c.toZone), sl(c.toLevel), chips(c.paths)]), { raw: [true, true, true, true, true] }));

  o.push('<h2>Allowed paths <span class="note">every path open through the gateway; anything else is denied</span></h2>');
  o.push(table(['Path', 'From', 'To', 'Protocol', 'Operations', 'Units', 'Addresses', 'Requirements'],
    inv.paths.map((p) => [
      `<b>${escapeHtml(p.conduit)}</b>${p.description ? `<br><span class="note">${escapeHtml(p.description)}</span>` : ''}`,
      chips(p.from), chips(p.to), escapeHtml(`${p.protocol} ${p.ports}`),
      p.operations ? chips(p.operations.functions) : '<span class="note">whole TCP connections</span>',
      escapeHtml(p.operations?.units ?? '–'), escapeHtml(p.operations?.addresses ?? '–'),
      p.requirements.map((q) => `<span class="req${q.startsWith('MONITOR') ? ' monitor' : ''}">${escapeHtml(q)}</span>`).join(' ') + (p.vendor ? ' <span class="req vendor">vendor</span>' : ''),
    ]), { raw: [true, true, true, true, true, true, true, true] }));

  const dnp3Paths = inv.paths.filter((p) => p.dnp3 !== null);
  if (dnp3Paths.length) {
    o.push('<h3>DNP3 operations per path <span class="note">each request decided on its own; SELECT-before-OPERATE per identity; refused requests answered by the gateway, never reaching the outstation</span></h3>');
    o.push(table(['Path', 'Functions', 'Link addresses', 'Objects', 'Points', 'Controls', 'Analog output values', 'Unsolicited'],
      dnp3Paths.map((p) => { const d = p.dnp3!; return [`<b>${escapeHtml(p.conduit)}</b>`, chips(d.functions), escapeHtml(d.links), escapeHtml(d.objects.join('; ')), escapeHtml(d.points), escapeHtml(d.controls), escapeHtml(d.values), d.unsolicited ? 'relayed' : 'dropped']; }),
      { raw: [true, true, true, true, true, true, true, false] }));
  }
}

// Electronic access points and vendor remote access (NERC CIP-005, CIP-003-11), quarantine and the expiry setting.
function accessHtml(o: string[], inv: Inventory): void {
  o.push('<h2>Electronic access points <span class="note">NERC CIP-005 R1: inbound access is denied by default and allowed only on the paths listed</span></h2>');
  o.push(table(['Interface', 'Zone', 'SL-T', 'Inbound paths'], inv.accessPoints.map((a) => [escapeHtml(a.interface), escapeHtml(a.zone), sl(a.securityLevel), a.inboundPaths.length ? chips(a.inboundPaths) : '<span class="note">none: all inbound denied</span>']), { raw: [true, true, true, true] }));

  o.push('<h2>Vendor remote access <span class="note">NERC CIP-003-11 vendor electronic remote access; CIP-005 R2</span></h2>');
  o.push(table(['Path', 'Vendor', 'To', 'Operations', 'Controls'], inv.vendorPaths.map((p) => [
    `<b>${escapeHtml(p.conduit)}</b>`, chips(p.from), chips(p.to),
    p.operations ? `${chips(p.operations.functions)}<br>addresses ${escapeHtml(p.operations.addresses)}` : escapeHtml(`${p.protocol} ${p.ports}`),
    p.requirements.map((q) => `<span class="req">${escapeHtml(q)}</span>`).join(' '),
  ]), { raw: [true, true, true, true, true] }));
  if (inv.quarantine.length) o.push(`<p>Quarantined, cut off from everything: ${chips(inv.quarantine)}</p>`);
  o.push(`<p class="note">On policy expiry while offline the gateway will: <b>${escapeHtml(inv.onExpiry)}</b>.</p>`);
}

// Logins, activations, break-glass, grants, the drivers' sections and the log's gaps.
function eventsHtml(o: string[], h: History, sections: readonly ReportSection[]): void {
  o.push('<h2>Events</h2>');
  o.push(`<h3>Logins <span class="note">${h.logins.ok} successful, ${h.logins.failed} failed</span></h3>` + table(['Time', 'Seq', 'User', 'Event', 'Detail'], h.logins.events.map((e) => [isoTime(e.at), e.seq, e.who, e.what, e.detail])));
  o.push('<h3>Policy bundle activations</h3>' + table(['Time', 'Seq', 'By', 'Event', 'Detail'], h.activations.map((e) => [isoTime(e.at), e.seq, e.who, e.what, e.detail])));
  o.push('<h3>Break-glass</h3>' + table(['Time', 'Seq', 'User', 'Event', 'Detail'], h.breakGlass.map((e) => [isoTime(e.at), e.seq, e.who, e.what, e.detail])));
  o.push('<h3>Grants</h3>' + table(['Time', 'Seq', 'By', 'Event', 'Detail'], h.grants.map((e) => [isoTime(e.at), e.seq, e.who, e.what, e.detail])));
  for (const t of sectionTables(h, sections)) o.push(`<h3>${escapeHtml(t.title)}${t.note ? ` <span class="note">${escapeHtml(t.note)}</span>` : ''}</h3>` + table(t.columns, t.rows));
  o.push('<h3>Gaps in the log</h3>' + table(['Seq', 'Time', 'Reason', 'Records lost', 'Range'], h.gaps.map((g) => [g.seq, isoTime(g.at), g.reason, g.count, g.range ?? '–'])));
}
