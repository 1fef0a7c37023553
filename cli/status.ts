/**
 * `zonegate status --config FILE [--json]`: the running daemon's state, read from the status file
 * it writes every few seconds (`<stateDir>/status.json`, runtime/telemetry/status-file.ts). Exit 0
 * when the daemon runs, 1 when it does not (no file, a stale file, its process gone).
 */
import type { Command } from './framework';
import { usageError } from './framework';
import { loadConfig } from '../runtime/config';
import { readStatusFile, type DaemonStatus } from '../runtime/telemetry/status-file';
import { formatTelemetryLine } from '../runtime/telemetry/summary';
import { formatMonitorLines } from '../runtime/monitor-tally';
import { formatIec104Link } from '../runtime/config/iec104';

export { writeStatusFile, readStatusFile, STATUS_FILE, type DaemonStatus, type StatusFileDocument } from '../runtime/telemetry/status-file';

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function iso(ms: number | null | undefined): string {
  return typeof ms === 'number' ? new Date(ms).toISOString() : '-';
}

/** The human view of a daemon status. */
export function formatDaemonStatus(s: DaemonStatus, ageMs: number): string {
  const lines = [`zonegate ${s.state}: device ${s.device ?? '-'} at site ${s.site ?? '-'}, up ${ago(s.uptimeMs)} (status written ${ago(ageMs)} ago)`];
  const full = (s.alarms ?? []).find((a) => a.id === 'disk-full');
  if (full) lines.push(`  DISK FULL: ${full.message}`);
  const p = s.policy;
  lines.push(`  policy: ${p.version ?? 'none'}${p.source ? ` from ${p.source}` : ''}, ${p.conduits} conduit(s), activated ${iso(p.activatedAt)}`);
  if (p.warning) lines.push(`  WARNING: ${p.warning}`);
  if (p.lastError) lines.push(`  last refused policy: ${p.lastError.code}: ${p.lastError.message}`);
  lines.push(...formatMonitorLines(s.monitor));
  for (const l of s.listeners ?? []) lines.push(`  listener ${l.address ?? l.listen} ${l.service} → ${l.asset} (${l.upstream}): ${l.state}${l.error ? ` (${l.error})` : ''}${l.iec104 ? ` [${formatIec104Link(l.iec104)}]` : ''}`);
  if (s.upload) {
    const u = s.upload;
    lines.push(`  audit upload: acked through seq ${u.ackedThrough}, ${u.backlog} record(s) waiting, ${u.inFlight} batch(es) in flight${u.lastError ? `; last error: ${u.lastError.message}` : ''}`);
  }
  if (s.telemetry) lines.push(`  host: ${formatTelemetryLine(s.telemetry)}`);
  const nft = s.nftables;
  if (nft) {
    lines.push(`  nftables: ${nft.appliedSha256 ? `ruleset ${nft.appliedSha256.slice(0, 12)} applied ${iso(nft.appliedAt)}` : 'not applied'}${nft.lastError ? `; last error: ${nft.lastError.message}` : ''}`);
    const hits = Object.entries(nft.counters?.byConduit ?? {}).sort((a, b) => b[1].packets - a[1].packets);
    const row = (c: { packets: number; bytes: number }, what: string) => `    ${String(c.packets).padStart(10)} packets ${String(c.bytes).padStart(12)} bytes  ${what}`;
    for (const [conduit, c] of hits.slice(0, 20)) lines.push(row(c, conduit));
    // A redirect serving several conduits is counted once: the kernel cannot tell them apart.
    for (const c of Object.values(nft.counters?.shared ?? {})) lines.push(row(c, `shared by ${c.conduits.join(', ')}${c.more ? ` (+${c.more})` : ''}`));
    for (const [what, c] of Object.entries(nft.counters?.drops ?? {}).sort((a, b) => b[1].packets - a[1].packets)) lines.push(row(c, `dropped: ${what}`));
    for (const w of nft.warnings ?? []) lines.push(`    warning: ${w}`);
  }
  const up = s.update;
  if (up) lines.push(`  runtime: slot ${up.activeSlot ?? '-'} (${up.version ?? '-'})${up.trial ? `, trial of ${up.trial.version}` : ''}${up.last ? `; last update ${up.last.outcome}: ${up.last.reason}` : ''}`);
  for (const a of s.alarms ?? []) lines.push(`  ALARM ${a.severity}: ${a.message} (since ${iso(a.since)})`);
  return lines.join('\n');
}

export const statusCommand: Command = {
  path: ['status'],
  summary: "show the running daemon's state: policy, listeners, alarms, audit upload, host telemetry",
  usage: 'status --config FILE [--stale SECS] [--json]',
  description: `
Reads <stateDir>/status.json, which the daemon rewrites every few seconds (stateDir from the
gateway config; on a full disk in place, in the space the file keeps reserved, and the status
then says DISK FULL). Exit 0 when the daemon is running; 1 when the file is missing, older than
--stale seconds (default 30) or names a process that is gone: then the daemon is not running
and the last known state is shown for reference.`,
  options: {
    config: { type: 'string', value: 'FILE', description: 'gateway config (required)' },
    stale: { type: 'string', value: 'SECS', description: 'a status older than this means not running (default 30)' },
  },
  json: true,
  async run(ctx) {
    const file = typeof ctx.options.config === 'string' ? ctx.options.config : undefined;
    if (!file) throw usageError('--config FILE is required');
    const staleSecs = typeof ctx.options.stale === 'string' ? Number(ctx.options.stale) : 30;
    if (!(staleSecs > 0)) throw usageError('--stale: a number of seconds greater than 0');
    const config = await loadConfig(file);
    const r = await readStatusFile(config.stateDir, { staleAfterMs: staleSecs * 1000 });
    if (ctx.json) {
      if (r.state === 'running' || r.state === 'stale') ctx.printJson({ running: r.state === 'running', ...(r.state === 'stale' ? { why: r.why } : {}), ageMs: r.ageMs, pid: r.doc.pid, writtenAt: r.doc.writtenAt, status: r.doc.status });
      else ctx.printJson({ running: false, why: r.state === 'missing' ? `no status file ${r.path}` : `${r.path}: ${r.why}` });
      return r.state === 'running' ? 0 : 1;
    }
    switch (r.state) {
      case 'running':
        ctx.out(formatDaemonStatus(r.doc.status, r.ageMs));
        return 0;
      case 'stale': {
        // A status that stopped being written while the disk was full: say that, not just "not running".
        const full = (r.doc.status.alarms ?? []).some((a) => a.id === 'disk-full');
        ctx.out(`zonegate is not running${full ? ' or cannot write its status (the disk was full)' : ''}: ${r.why}.\nLast known state (written ${iso(r.doc.writtenAt)}):\n${formatDaemonStatus(r.doc.status, r.ageMs)}`);
        return 1;
      }
      case 'missing':
        ctx.out(`zonegate is not running: no status file ${r.path}`);
        return 1;
      default:
        ctx.out(`zonegate is not running (or not writing its status): ${r.path}: ${r.why}`);
        return 1;
    }
  },
};
