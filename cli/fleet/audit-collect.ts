/** `zonegate fleet audit collect`: receive, verify, store and forward the gateways' audit logs. */
import { readFileSync } from 'node:fs';
import type { Command } from '../framework';
import { usageError } from '../framework';
import { hostPortOption } from '../host-port-option';
import { ZonegateError } from '../../policy/errors';
import { idProblem } from '../../protocol/mqtt/topics';
import { startCollector } from '../../fleet/audit-collect-mqtt';
import type { CollectorAlert } from '../../fleet/audit-collect';
import { createJsonLinesSink, createSyslogSink, type ClosableSink } from '../../fleet/siem';
import { brokerFromOptions, brokerOptionSpecs } from './broker-options';
import { parseDurationOption } from '../../protocol/parse-time';
import type { CommandContext } from '../framework';
import type { CollectorStore } from '../../fleet/audit-store';
import { openPgCollectorStore } from '../../fleet/store/pg/collect-store';
import { openPool } from '../../fleet/store/pg/pool';
import { saveStatus } from '../../fleet/store/pg/gateways';
import { applyRetention } from '../../fleet/store/pg/retention';
import type { Pool } from 'pg';

export const fleetAuditCollectCommand: Command = {
  path: ['fleet', 'audit', 'collect'],
  summary: "collect the gateways' audit logs: verify the chain, store, acknowledge, forward to a SIEM",
  usage: 'fleet audit collect --broker URL --site S (--out DIR | --db URL [--group NAME] [--retention MONTHS]) [--key-dir DIR] [--syslog HOST:PORT [--syslog-tls [--syslog-ca FILE]]] [--jsonl FILE] [--once | --until-idle SECS] [--json]',
  description: `
Subscribes to zonegate/v1/<site>/+/audit (QoS 1, persistent session) and, for each batch a
gateway uploads, checks the hash chain from where the stored copy ends (seq continuity, prev
hashes, checkpoint signatures under the device key pinned from --key-dir/<device>.pub or else from
the first checkpoint seen). Verified records are stored once per seq in <out>/<device>/, in the
device's own segment format (check it with \`zonegate audit verify <out>/<device>\`), and
acknowledged on .../audit/ack up to the highest contiguous verified seq. Batches after a hole wait
until it is filled (a device's first batch must start at seq 0 unless --allow-mid-chain-start). A batch that fails verification is NOT stored nor acknowledged: it is kept in
<out>/<device>/refused/ with the reason and reported on stderr (and to the SIEM as an alert).

Each stored record is forwarded as RFC 5424 syslog over TCP (octet counting, RFC 6587; TLS with
--syslog-tls, verified against --syslog-ca or else --ca) and/or as JSON lines (--jsonl FILE, '-'
for stdout), with device, seq, hash, prev and the exact payload (base64).

With --db URL (postgres://user@host:port/db; the password from PGPASSWORD or ~/.pgpass, never
on the command line) records go to PostgreSQL instead (schema created or migrated at start):
keyed by (device, seq), acknowledged only after COMMIT, partitioned by month; --retention MONTHS
drops whole partitions older than that (at start and daily). The collector also keeps each
gateway's latest status document there. --group NAME joins an MQTT 5 shared subscription
($share/NAME/zonegate/v1/<site>/+/audit): run several collectors with the same group and
database; each batch goes to one of them, and one device's batches are serialized in the
database (row lock, chain checked against the stored end), so none is stored twice or out of order.

Connected without a session at the broker (every connection of a --group member; a session the
broker lost), it publishes zonegate/v1/<site>/all/audit-resync once subscribed: the gateways send
again what they sent and got no acknowledgement for (it may have reached nobody), spread over 5 ms
per device known, 0.5 to 30 s, rather than after their 30 s ack timeout.

Runs until Ctrl-C; --once stops when nothing arrived for 2 s, --until-idle SECS after SECS without
a batch. Exit 1 when any batch was refused.`,
  options: {
    ...brokerOptionSpecs,
    site: { type: 'string', value: 'S', description: 'site id (required)' },
    out: { type: 'string', value: 'DIR', description: 'folder for the collected logs (without --db)' },
    db: { type: 'string', value: 'URL', description: 'PostgreSQL URL: store there instead of --out' },
    group: { type: 'string', value: 'NAME', description: 'shared-subscription group of several collectors (needs --db)' },
    retention: { type: 'string', value: 'MONTHS', description: 'with --db: drop monthly partitions older than MONTHS whole months' },
    'key-dir': { type: 'string', value: 'DIR', description: 'folder of <device>.pub keys to pin' },
    'client-id': { type: 'string', value: 'ID', description: 'MQTT client id of the persistent session (default zonegate-audit-collect-<site>)' },
    syslog: { type: 'string', value: 'HOST:PORT', description: 'forward as RFC 5424 syslog over TCP' },
    'syslog-tls': { type: 'boolean', description: 'syslog over TLS (RFC 5425)' },
    'syslog-ca': { type: 'string', value: 'FILE', description: 'PEM CA bundle for the syslog server (default: --ca)' },
    jsonl: { type: 'string', value: 'FILE', description: "append each record as a JSON line ('-' = stdout)" },
    'allow-mid-chain-start': { type: 'boolean', description: "accept a device's first batch when it does not start at seq 0 (its older records were evicted)" },
    once: { type: 'boolean', description: 'collect what is waiting, stop after 2 s without a batch' },
    'until-idle': { type: 'string', value: 'SECS', description: 'stop after SECS without a batch' },
  },
  json: true,
  async run(ctx) {
    const o = ctx.options;
    const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
    const site = s('site');
    const out = s('out');
    if (!site) throw usageError('--site S is required');
    const bad = idProblem(site, 'site');
    if (bad) throw usageError(`--site: ${bad}`);
    const db = s('db');
    if (!out && !db) throw usageError('--out DIR or --db URL is required');
    if (out && db) throw usageError('--out and --db exclude each other');
    const group = s('group');
    if (group !== undefined && !db) throw usageError('--group needs --db (the members of a group share one database)');
    if (group !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(group)) throw usageError('--group: 1 to 64 letters, digits, _ . or -');
    const retention = s('retention') === undefined ? undefined : Number(s('retention'));
    if (retention !== undefined && (!db || !Number.isInteger(retention) || retention < 1 || retention > 1200)) throw usageError('--retention MONTHS: a whole number of months from 1, with --db');
    if (o.once === true && s('until-idle')) throw usageError('--once and --until-idle exclude each other');
    if (o['syslog-tls'] === true && !s('syslog')) throw usageError('--syslog-tls needs --syslog HOST:PORT');
    if (s('jsonl') === '-' && ctx.json) throw usageError("--jsonl - and --json both write to stdout");
    const idleMs = o.once === true ? 2000 : s('until-idle') ? parseDurationOption(s('until-idle') as string, '--until-idle') : null;
    const broker = { ...brokerFromOptions(ctx), clientId: s('client-id') };

    const sinks = sinksFromOptions(ctx);
    const pg = db ? await openDatabase(ctx, db, site, retention) : null;

    const onAlert = (a: CollectorAlert) => ctx.err(`REFUSED ${a.device} from seq ${a.fromSeq ?? '?'}: ${a.message}${a.evidence ? ` (kept in ${a.evidence})` : ''}`);
    const conn = await startCollector({
      broker, site, out, store: pg?.store, group, onStatus: pg?.onStatus, keyDir: s('key-dir'), sinks, onAlert, allowMidChainStart: o['allow-mid-chain-start'] === true,
      onError: (m) => ctx.err(`zonegate fleet audit collect: ${m}`),
      onBatch: (r) => { if (!ctx.json && r.outcome === 'stored' && process.stderr.isTTY) ctx.err(`${r.device}: stored ${r.stored} record(s), through seq ${r.through}`); },
    });
    // On stderr also with --json (stdout stays one JSON document): says the subscription is in place.
    if (s('jsonl') !== '-') ctx.err(`collecting audit logs of site ${site} into ${out ?? 'the database'}${group ? ` as a member of group ${group}` : ''}`);
    try {
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) return resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
        if (idleMs !== null) {
          const tick = setInterval(() => { if (Date.now() - conn.lastMessageAt() >= idleMs) { clearInterval(tick); resolve(); } }, Math.min(200, idleMs));
          ctx.signal.addEventListener('abort', () => clearInterval(tick), { once: true });
        }
      });
    } finally {
      pg?.stop();
      await conn.close();
      await pg?.pool.end();
      for (const k of sinks) await k.close();
    }
    const st = conn.collector.status();
    const summary = { ok: st.refused === 0, site, out: out ?? null, database: db ? redactUrl(db) : null, group: group ?? null, ...st, sinks: sinks.map((k) => k.status()) };
    if (ctx.json) ctx.printJson(summary);
    else {
      if (s('jsonl') !== '-') {
        ctx.out(`batches ${st.batches}: ${st.stored} record(s) stored, ${st.duplicates} duplicate batch(es), ${st.refused} refused`);
        for (const d of st.devices) ctx.out(`  ${d.device}: seq ${d.firstSeq}..${d.through}${d.pending ? `, ${d.pending} batch(es) waiting for a hole` : ''}${d.refused ? `, ${d.refused} REFUSED` : ''}, key ${d.key}`);
      }
      for (const k of sinks) if (k.status().dropped > 0) ctx.err(`forwarding dropped ${k.status().dropped} message(s) (queue full)`);
    }
    return st.refused === 0 ? 0 : 1;
  },
};

/** The SIEM sinks the options ask for. */
export function sinksFromOptions(ctx: CommandContext): ClosableSink[] {
  const o = ctx.options;
  const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const sinks: ClosableSink[] = [];
  if (s('syslog')) {
    const { host, port } = hostPortOption(s('syslog') as string, '--syslog');
    let tls: { ca?: Buffer } | undefined;
    if (o['syslog-tls'] === true) {
      const caFile = s('syslog-ca') ?? s('ca');
      let ca: Buffer | undefined;
      if (caFile) {
        try { ca = readFileSync(caFile); } catch (e) { throw new ZonegateError('ERR_USAGE', `cannot read ${caFile}: ${(e as Error).message}`); }
      }
      tls = { ca };
    }
    sinks.push(createSyslogSink({ host, port, tls }));
  }
  if (s('jsonl')) sinks.push(createJsonLinesSink({ file: s('jsonl') as string }));
  return sinks;
}

/** A database URL without its password, for output. */
export function redactUrl(url: string): string {
  try { const u = new URL(url); if (u.password) u.password = '***'; return u.toString(); } catch { return '(unreadable URL)'; }
}

/** Opens the PostgreSQL store (migrating the schema), the status writer and the retention timer. */
async function openDatabase(ctx: CommandContext, url: string, site: string, months: number | undefined): Promise<{ pool: Pool; store: CollectorStore; onStatus: (topic: string, payload: Buffer) => void; stop(): void }> {
  const pool = openPool(url, { max: 6 });
  let store: CollectorStore;
  try {
    store = await openPgCollectorStore({ pool, site });
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new ZonegateError('ERR_STORAGE', `cannot use the database ${redactUrl(url)}: ${(e as Error).message}`);
  }
  const retain = async () => {
    if (months === undefined) return;
    try {
      const dropped = await applyRetention(pool, { months });
      if (dropped.length > 0) ctx.err(`retention (${months} months): dropped ${dropped.join(', ')}`);
    } catch (e) { ctx.err(`zonegate fleet audit collect: retention failed: ${(e as Error).message}`); }
  };
  await retain();
  const timer = months === undefined ? null : setInterval(() => { void retain(); }, 86_400_000);
  timer?.unref();
  return {
    pool, store,
    onStatus: (topic, payload) => { saveStatus(pool, topic, payload, site).catch((e: Error) => ctx.err(`zonegate fleet audit collect: status not stored: ${e.message}`)); },
    stop: () => { if (timer) clearInterval(timer); },
  };
}
