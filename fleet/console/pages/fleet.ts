/** The fleet page, one gateway's page, the rollouts and one rollout (HTML bodies, escaped). */
import { escapeHtml } from '../../../protocol/web/http';
import type { StatusDocument } from '../../../protocol/mqtt/status';
import type { AuditRow, ChainState } from '../../store/types';
import { Rollouts, type Rollout } from '../rollouts';
import { sparkline } from '../svg';
import { ago, href, iso, table } from './layout';

const onlineCell = (g: StatusDocument) => ({ raw: g.online ? '<span class="ok">online</span>' : '<span class="bad">OFFLINE</span>' });
const expiry = (g: StatusDocument, now: number) => {
  if (g.policyExpiresAt === null) return { raw: '<span class="muted">-</span>' };
  const cls = g.policyExpiresAt < now ? 'bad' : g.policyExpiresAt - now < 7 * 86_400_000 ? 'warn' : '';
  return { raw: `<span class="${cls}">${escapeHtml(iso(g.policyExpiresAt))}</span>` };
};

/** Every gateway by site: online, last seen, policy version and expiry, runtime, alarms, CPU sparkline. */
export function fleetBody(o: { gateways: readonly StatusDocument[]; cpu: (site: string, device: string) => readonly number[]; now: number; sites: readonly string[] }): string {
  const parts: string[] = [];
  const online = o.gateways.filter((g) => g.online).length;
  const alarmed = o.gateways.filter((g) => g.alarms.length > 0).length;
  parts.push(`<p id="summary"><strong>${o.gateways.length}</strong> gateways, <strong class="ok">${online}</strong> online, <strong class="${alarmed ? 'bad' : ''}">${alarmed}</strong> with alarms.</p>`);
  const bySite = new Map<string, StatusDocument[]>();
  for (const g of o.gateways) { const l = bySite.get(g.site); if (l) l.push(g); else bySite.set(g.site, [g]); }
  for (const site of o.sites) {
    const gs = bySite.get(site) ?? [];
    parts.push(`<h2>Site ${escapeHtml(site)} <span class="muted">(${gs.filter((g) => g.online).length}/${gs.length} online)</span></h2>`);
    parts.push(table(['Gateway', 'State', 'Last seen', 'Policy', 'Expires', 'Runtime', 'Alarms', 'Last error', 'CPU'], gs.map((g) => ({
      id: `gw-${g.site}-${g.device}`,
      cells: [
        { raw: `<a href="${escapeHtml(href('/gateway', { site: g.site, device: g.device }))}">${escapeHtml(g.device)}</a>` },
        onlineCell(g), ago(g.lastSeen, o.now),
        g.policyVersion === null ? '-' : `v${g.policyVersion}`, expiry(g, o.now),
        `${g.runtimeVersion || '-'}${g.slot ? ` (${g.slot.toUpperCase()})` : ''}`,
        { raw: g.alarms.length ? `<span class="bad">${escapeHtml(g.alarms.join(', '))}</span>` : '<span class="muted">none</span>' },
        g.lastError ? g.lastError.code : '-',
        { raw: sparkline(o.cpu(g.site, g.device), { max: 100, title: 'CPU load %' }) },
      ],
    }))));
  }
  return parts.join('\n');
}

/** One gateway: its status, the listeners its decisions went through, recent decisions, alarms, audit upload and chain. */
export function gatewayBody(o: { g: StatusDocument | undefined; site: string; device: string; recent: readonly AuditRow[]; chain: ChainState | undefined; now: number }): string {
  const g = o.g;
  const parts: string[] = [];
  if (!g) parts.push('<p class="msg">No status from this gateway (yet).</p>');
  else {
    parts.push(`<dl id="status"><dt>State</dt><dd>${g.online ? '<span class="ok">online</span>' : '<span class="bad">OFFLINE</span>'}, last seen ${escapeHtml(ago(g.lastSeen, o.now))}</dd>
<dt>Policy</dt><dd>${g.policyVersion === null ? '-' : `v${g.policyVersion}`} (sha256 ${escapeHtml((g.policyHash ?? '-').slice(0, 16))}…), expires ${escapeHtml(iso(g.policyExpiresAt))}</dd>
<dt>Runtime</dt><dd>${escapeHtml(g.runtimeVersion || '-')}${g.slot ? `, slot ${g.slot.toUpperCase()}` : ''}, up ${Math.floor(g.uptimeSeconds / 60)} min</dd>
<dt>Alarms</dt><dd id="alarms">${g.alarms.length ? `<span class="bad">${escapeHtml(g.alarms.join(', '))}</span>` : 'none'}</dd>
<dt>Last error</dt><dd>${g.lastError ? escapeHtml(`${g.lastError.code}: ${g.lastError.message}`) : '-'}</dd></dl>`);
  }
  const c = o.chain;
  parts.push('<h2>Audit upload</h2>');
  parts.push(c
    ? `<dl id="chain"><dt>Stored</dt><dd>seq ${c.firstSeq}..${c.through}, last record ${escapeHtml(iso(c.lastAt))}</dd><dt>Chain</dt><dd>${c.verified ? '<span class="ok">verifies</span>' : `<span class="bad">does not verify</span>: ${escapeHtml(c.problem ?? '')}`}</dd><dt>Last signed checkpoint</dt><dd>${c.checkpointSeq === null ? '-' : `seq ${c.checkpointSeq}`}</dd></dl>`
    : '<p class="muted">No audit records collected from this gateway.</p>');
  parts.push(listenersSection(g, o.recent));
  parts.push(`<h2>Recent decisions</h2>${recordsTable(o.recent.filter((r) => r.decision !== null), () => undefined)}`);
  return parts.join('\n');
}

/**
 * The gateway's listeners as its status document lists them; a gateway too old to list them gets
 * the listeners seen in its recent decisions instead, and the heading says which.
 */
function listenersSection(g: StatusDocument | undefined, recent: readonly AuditRow[]): string {
  if (g?.listeners) {
    const rows = g.listeners.map((l) => ({ cells: [l.listen, l.asset, `${l.service}:${l.servicePort}`, { raw: l.state === 'up' ? '<span class="ok">up</span>' : `<span class="bad">${escapeHtml(l.state)}</span>` }, l.error ?? ''] }));
    return `<h2>Listeners</h2>${rows.length ? table(['Listen', 'Asset', 'Service', 'State', 'Error'], rows, 'listeners') : '<p class="muted">none</p>'}`;
  }
  const seen = new Map<string, number>();
  for (const r of recent) if (r.asset && r.record.port !== undefined) { const k = `${r.record.protocol ?? '?'} → ${r.asset}:${r.record.port}`; seen.set(k, (seen.get(k) ?? 0) + 1); }
  return `<h2>Listeners (seen in recent decisions; this gateway's status does not list them)</h2>${seen.size ? table(['Listener', 'Recent records'], [...seen].map(([k, n]) => ({ cells: [k, String(n)] }))) : '<p class="muted">none seen</p>'}`;
}

/** Audit rows as a table; `chainOf` gives each row's device chain state for the "verifies" column. */
export function recordsTable(rows: readonly AuditRow[], chainOf: (site: string, device: string) => ChainState | undefined): string {
  return table(['Time', 'Site', 'Gateway', 'Seq', 'Kind', 'Identity', 'Source', 'Asset', 'Operation', 'Decision', 'Reason / conduit', 'Chain'], rows.map((r) => {
    const c = chainOf(r.site, r.device);
    const chain = c === undefined ? { raw: '<span class="muted">?</span>' }
      : c.verified && r.seq <= c.through ? { raw: '<span class="ok">verifies</span>' } : { raw: `<span class="bad" title="${escapeHtml(c.problem ?? '')}">does not verify</span>` };
    const dec = r.decision === null ? '-' : r.decision;
    return {
      cells: [iso(r.at), r.site, r.device, String(r.seq), r.kind, r.identity ?? '-', r.src ?? '-', r.asset ?? '-', r.operation ?? '-',
        { raw: `<span class="${r.decision === 'allow' ? 'ok' : r.decision ? 'bad' : ''}">${escapeHtml(dec)}</span>` },
        r.reason ?? r.record.decision?.conduit ?? r.record.message ?? '-', chain],
    };
  }), 'records');
}

/** The publish form (operators) and the list of rollouts. */
export function rolloutsBody(o: { rollouts: readonly Rollout[]; gateways: readonly StatusDocument[]; sites: readonly string[]; canPublish: boolean; csrf: string; message?: string }): { controls: string; body: string } {
  const form = o.canPublish ? `<h2>Publish a signed bundle or command</h2>
<p class="muted">Sign offline (<code>zonegate fleet sign</code>, <code>fleet command</code>); the console holds no signing key and publishes the exact bytes.</p>
<form method="post" action="/publish" enctype="multipart/form-data" class="filters" id="publish">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<label>Site <select name="site">${o.sites.map((s) => `<option>${escapeHtml(s)}</option>`).join('')}</select></label>
<label>Device (empty: every gateway of the site) <input name="device" maxlength="64"></label>
<label>Signed file <input type="file" name="bundle" required></label>
<button type="submit">Publish</button></form>` : '<p class="muted">Viewers cannot publish.</p>';
  const rows = o.rollouts.map((r) => {
    const p = Rollouts.progress(r, o.gateways);
    return { cells: [
      { raw: `<a href="/rollout?id=${r.id}">#${r.id}</a>` }, r.site, r.device ?? 'all', `${r.kind}${r.version !== null ? ` v${r.version}` : ''}`,
      `${p.matched}/${p.wanted}`, iso(r.at), r.by,
    ] };
  });
  return { controls: `${o.message ? `<p class="msg" id="message">${escapeHtml(o.message)}</p>` : ''}${form}`, body: `<h2>Rollouts</h2>${rows.length ? table(['Rollout', 'Site', 'Target', 'Bundle', 'Gateways', 'Published', 'By'], rows, 'rollouts') : '<p class="muted">Nothing published from this console since it started.</p>'}` };
}

/** One rollout's progress, gateway by gateway. */
export function rolloutBody(o: { r: Rollout; gateways: readonly StatusDocument[] }): string {
  const p = Rollouts.progress(o.r, o.gateways);
  const pct = p.wanted === 0 ? 0 : Math.round((p.matched / p.wanted) * 100);
  return `<p>${escapeHtml(o.r.kind)}${o.r.version !== null ? ` v${o.r.version}` : ''} to ${escapeHtml(o.r.site)}/${escapeHtml(o.r.device ?? 'all')}, sha256 <code>${escapeHtml(o.r.hash.slice(0, 16))}…</code>, ${o.r.bytes} bytes, by ${escapeHtml(o.r.by)} at ${escapeHtml(iso(o.r.at))}</p>
<p id="progress" data-matched="${p.matched}" data-wanted="${p.wanted}"><strong>${pct}%</strong>: ${p.matched} of ${p.wanted} gateways report it</p>
<div class="bar"><span style="width:${pct}%"></span></div>
${table(['Gateway', 'Reports it', 'State', 'Policy', 'Last error'], p.rows.map((x) => ({ cells: [x.device, { raw: x.done ? '<span class="ok">yes</span>' : '<span class="warn">not yet</span>' }, x.online ? 'online' : 'OFFLINE', x.policyVersion === null ? '-' : `v${x.policyVersion}`, x.lastError ?? '-'] })), 'rollout-gateways')}`;
}
