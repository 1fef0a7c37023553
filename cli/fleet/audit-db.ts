/** `zonegate fleet audit verify --db` and `fleet audit export --db`: the PostgreSQL store read back. */
import { createWriteStream } from 'node:fs';
import type { Command, CommandContext } from '../framework';
import { usageError } from '../framework';
import { parseTimeOption } from '../../protocol/parse-time';
import { idProblem } from '../../protocol/mqtt/topics';
import { ZonegateError } from '../../policy/errors';
import { openPool } from '../../fleet/store/pg/pool';
import { chainDevices, verifyDeviceInDb, type DbVerifyReport } from '../../fleet/store/pg/verify';
import { exportRecords } from '../../fleet/store/pg/export';
import { createSyslogSink, formatJsonLine, formatSyslog } from '../../fleet/siem';
import { hostPortOption } from '../host-port-option';
import { redactUrl } from './audit-collect';

const str = (ctx: CommandContext, k: string) => (typeof ctx.options[k] === 'string' ? (ctx.options[k] as string) : undefined);

function idOption(ctx: CommandContext, k: 'site' | 'device'): string | undefined {
  const v = str(ctx, k);
  const bad = v === undefined ? undefined : idProblem(v, k);
  if (bad) throw usageError(`--${k}: ${bad}`);
  return v;
}

function dbOption(ctx: CommandContext): string {
  const db = str(ctx, 'db');
  if (!db) throw usageError('--db URL is required');
  return db;
}

async function withPool<T>(url: string, f: (pool: ReturnType<typeof openPool>) => Promise<T>): Promise<T> {
  const pool = openPool(url, { max: 2 });
  try {
    return await f(pool);
  } catch (e) {
    if (e instanceof ZonegateError) throw e;
    throw new ZonegateError('ERR_STORAGE', `database ${redactUrl(url)}: ${(e as Error).message}`);
  } finally {
    await pool.end().catch(() => undefined);
  }
}

export const fleetAuditVerifyCommand: Command = {
  path: ['fleet', 'audit', 'verify'],
  summary: "re-verify the collected chains from the PostgreSQL store alone",
  usage: 'fleet audit verify --db URL [--site S] [--device D] [--json]',
  description: `
Reads every stored payload of each device (or of --device) in seq order from the database and
checks the hash chain, the seqs, the checkpoint signatures under the pinned key, the hash column,
and that the chain end recorded by the collectors is where the records end. Exit 0 when every
chain verifies, 1 naming the first record that does not.`,
  options: {
    db: { type: 'string', value: 'URL', description: 'PostgreSQL URL (required)' },
    site: { type: 'string', value: 'S', description: 'only this site' },
    device: { type: 'string', value: 'D', description: 'only this device' },
  },
  json: true,
  async run(ctx) {
    const db = dbOption(ctx);
    const site = idOption(ctx, 'site');
    const device = idOption(ctx, 'device');
    const reports: DbVerifyReport[] = await withPool(db, async (pool) => {
      const devices = device ? [device] : await chainDevices(pool, site);
      const out: DbVerifyReport[] = [];
      for (const d of devices) out.push(await verifyDeviceInDb(pool, d));
      return out;
    });
    const ok = reports.length > 0 && reports.every((r) => r.ok);
    if (ctx.json) ctx.printJson({ ok, devices: reports });
    else {
      if (reports.length === 0) ctx.err('no chain in the database');
      for (const r of reports) {
        const span = r.records > 0 ? `seq ${r.firstSeq}..${r.lastSeq}, ${r.records} record(s), ${r.checkpoints} checkpoint(s)${r.startsMidChain ? ', starts mid-chain' : ''}` : 'no records';
        ctx.out(`${r.device}: ${r.ok ? 'OK' : `FAILED at seq ${r.error?.seq ?? '?'} (${r.error?.code}): ${r.error?.message}`} — ${span}`);
      }
    }
    return ok ? 0 : 1;
  },
};

export const fleetAuditExportCommand: Command = {
  path: ['fleet', 'audit', 'export'],
  summary: 'export collected records from the PostgreSQL store to a SIEM (JSON lines or RFC 5424 syslog)',
  usage: 'fleet audit export --db URL [--site S] [--device D] [--since TIME] [--until TIME] --format jsonl|syslog [--out FILE | --syslog HOST:PORT]',
  description: `
Reads the stored records oldest first (by record time) and writes them exactly as
\`fleet audit collect\` forwards them: JSON lines, or RFC 5424 syslog messages (one per line to
--out / stdout, or over TCP with octet counting to --syslog HOST:PORT). TIME: an ISO time, a date,
epoch ms, or a duration back from now (30d).`,
  options: {
    db: { type: 'string', value: 'URL', description: 'PostgreSQL URL (required)' },
    site: { type: 'string', value: 'S', description: 'only this site' },
    device: { type: 'string', value: 'D', description: 'only this device' },
    since: { type: 'string', value: 'TIME', description: 'records at or after TIME' },
    until: { type: 'string', value: 'TIME', description: 'records before TIME' },
    format: { type: 'string', value: 'FORMAT', description: 'jsonl or syslog (required)' },
    out: { type: 'string', value: 'FILE', description: 'append to FILE instead of stdout' },
    syslog: { type: 'string', value: 'HOST:PORT', description: 'send syslog over TCP (with --format syslog)' },
  },
  async run(ctx) {
    const db = dbOption(ctx);
    const format = str(ctx, 'format');
    if (format !== 'jsonl' && format !== 'syslog') throw usageError('--format jsonl or --format syslog is required');
    if (str(ctx, 'syslog') && format !== 'syslog') throw usageError('--syslog needs --format syslog');
    if (str(ctx, 'syslog') && str(ctx, 'out')) throw usageError('--out and --syslog exclude each other');
    const now = Date.now();
    const since = str(ctx, 'since') === undefined ? undefined : parseTimeOption(str(ctx, 'since') as string, { flag: '--since', now, durations: 'past' });
    const until = str(ctx, 'until') === undefined ? undefined : parseTimeOption(str(ctx, 'until') as string, { flag: '--until', now, durations: 'past' });
    const q = { site: idOption(ctx, 'site'), device: idOption(ctx, 'device'), since, until };
    const sink = str(ctx, 'syslog') ? createSyslogSink(hostPortOption(str(ctx, 'syslog') as string, '--syslog')) : null;
    const file = str(ctx, 'out') ? createWriteStream(str(ctx, 'out') as string, { flags: 'a', mode: 0o600 }) : null;
    let n = 0;
    await withPool(db, async (pool) => {
      for await (const f of exportRecords(pool, q, ctx.signal)) {
        n++;
        if (sink) { sink.forward(f); continue; }
        const line = format === 'jsonl' ? formatJsonLine(f) : formatSyslog(f);
        if (file) { if (!file.write(`${line}\n`)) await new Promise((r) => file.once('drain', r)); } else ctx.out(line);
      }
    });
    if (sink) { await sink.close(30_000); if (sink.status().queued > 0) throw new ZonegateError('ERR_STORAGE', `syslog: ${sink.status().queued} message(s) not sent: ${sink.status().lastError}`); }
    if (file) await new Promise<void>((r) => file.end(() => r()));
    ctx.err(`exported ${n} record(s)`);
    return 0;
  },
};
