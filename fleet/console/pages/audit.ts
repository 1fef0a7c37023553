/** Denials over time, vendor access and the audit search (HTML bodies, every value escaped). */
import { escapeHtml } from '../../../protocol/web/http';
import type { AuditRow, ChainState, DenialBucket } from '../../store/types';
import { stackedBarChart } from '../svg';
import { href, iso, table } from './layout';
import { recordsTable } from './fleet';

export interface DenialQuery { site?: string; asset?: string; reason?: string; from: number; to: number; bucketMs: number }

/** The stacked chart grouped by reason (or by asset once a reason is chosen), each part a narrowing link. */
export function denialsBody(q: DenialQuery, buckets: readonly DenialBucket[]): string {
  const rows = buckets.filter((b) => q.reason === undefined || b.reason === q.reason);
  const byReason = q.reason === undefined;
  const groupOf = (b: DenialBucket) => (byReason ? b.reason ?? '(none)' : b.asset ?? '(none)');
  const groups = [...new Set(rows.map(groupOf))].sort();
  const n = Math.max(1, Math.ceil((q.to - q.from) / q.bucketMs));
  const base = { site: q.site, asset: q.asset, reason: q.reason, from: q.from, to: q.to };
  const buckets2 = Array.from({ length: n }, (_, i) => {
    const start = q.from + i * q.bucketMs;
    return { label: iso(start).slice(11, 16), href: href('/denials', { ...base, from: start, to: start + q.bucketMs }) };
  });
  const series = groups.map((g) => ({
    name: g,
    href: href('/denials', byReason ? { ...base, reason: g === '(none)' ? undefined : g } : { ...base, asset: g === '(none)' ? undefined : g }),
    counts: Array.from({ length: n }, (_, i) => rows.filter((b) => groupOf(b) === g && b.start === q.from + i * q.bucketMs).reduce((s, b) => s + b.count, 0)),
  }));
  const total = rows.reduce((s, b) => s + b.count, 0);
  const narrowed = [q.site && `site ${q.site}`, q.asset && `asset ${q.asset}`, q.reason && `reason ${q.reason}`].filter(Boolean).join(', ');
  const perAsset = new Map<string, number>();
  for (const b of rows) perAsset.set(`${b.site} / ${b.asset ?? '-'} / ${b.reason ?? '-'}`, (perAsset.get(`${b.site} / ${b.asset ?? '-'} / ${b.reason ?? '-'}`) ?? 0) + b.count);
  return `<p id="denials-total"><strong>${total}</strong> denials from ${escapeHtml(iso(q.from))} to ${escapeHtml(iso(q.to))}${narrowed ? `, ${escapeHtml(narrowed)} (<a href="/denials">all</a>)` : ''}. Click a bar to zoom into its time, a colour to narrow to it.</p>
${stackedBarChart({ buckets: buckets2, series, title: `Denials per ${byReason ? 'reason' : 'asset'}` })}
<p><a href="${escapeHtml(href('/search', { site: q.site, asset: q.asset, decision: 'deny', from: iso(q.from), to: iso(q.to) }))}">These denials in the audit search</a></p>
${table(['Site / asset / reason', 'Denials'], [...perAsset].sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ cells: [k, String(v)] })), 'denials-table')}`;
}

/** Grants, logins, sessions and what vendors did: audit records of those kinds and the decisions of the identities they name. */
export function vendorsBody(o: { access: readonly AuditRow[]; actions: readonly AuditRow[]; chainOf: (site: string, device: string) => ChainState | undefined }): string {
  const rows = o.access.map((r) => ({ cells: [iso(r.at), `${r.site}/${r.device}`, r.kind, r.identity ?? String(r.record.detail?.identity ?? r.record.detail?.user ?? '-'), r.record.message ?? '-'] }));
  return `<h2>Grants, logins and sessions</h2>${rows.length ? table(['Time', 'Gateway', 'Kind', 'Who', 'What'], rows, 'vendor-access') : '<p class="muted">No grant, login or break-glass records in this period.</p>'}
<h2>What they did</h2>${o.actions.length ? recordsTable(o.actions, o.chainOf) : '<p class="muted">No decisions by those identities in this period.</p>'}`;
}

export interface SearchForm { site?: string; device?: string; identity?: string; asset?: string; operation?: string; decision?: string; from?: string; to?: string }

/** The search form (values escaped back into it) and the results, each with its chain state. */
export function searchBody(f: SearchForm, rows: readonly AuditRow[] | null, chainOf: (site: string, device: string) => ChainState | undefined, more: string | null, error?: string): { controls: string; body: string } {
  const input = (name: keyof SearchForm, label: string, hint = '') => `<label>${label}<input name="${name}" value="${escapeHtml(f[name] ?? '')}" maxlength="128"${hint ? ` placeholder="${hint}"` : ''}></label>`;
  const dec = ['', 'allow', 'deny', 'would-deny'].map((d) => `<option${f.decision === d ? ' selected' : ''} value="${d}">${d || 'any'}</option>`).join('');
  const form = `<form method="get" action="/search" class="filters" id="search">${input('identity', 'Identity or address')}${input('asset', 'Asset')}${input('operation', 'Operation', 'modbus:6, auth, grant')}
<label>Decision<select name="decision">${dec}</select></label>${input('from', 'From', '2026-01-01T00:00Z')}${input('to', 'To')}${input('site', 'Site')}${input('device', 'Gateway')}<button type="submit">Search</button></form>`;
  if (error) return { controls: form, body: `<p class="msg" id="message">${escapeHtml(error)}</p>` };
  if (rows === null) return { controls: form, body: '' };
  return { controls: form, body: `<p id="result-count">${rows.length} record(s)${more ? `, <a href="${escapeHtml(more)}">older</a>` : ''}</p>${recordsTable(rows, chainOf)}` };
}
