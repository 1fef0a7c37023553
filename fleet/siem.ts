/**
 * Forwarding collected audit records to a SIEM: RFC 5424 syslog over TCP (octet-counting
 * framing, RFC 6587 §3.4.1; TLS with node:tls as in RFC 5425 when configured) and JSON lines.
 * Each record carries its chain position (device, seq, hash, prev) and its exact payload
 * (base64), so that downstream the evidence can still be re-hashed and checked against the chain.
 *
 * Syslog message (RFC 5424 §6):
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [zonegate@32473 ...][decision@32473 ...] BOM MSG
 *   facility 13 (log audit, §6.2.1); severity 4 warning for denials, malformed and gaps, 5 notice
 *   for auth/policy/break-glass/grant/quarantine, 6 informational otherwise, 1 alert for refused
 *   batches. HOSTNAME is the device the record comes from. 32473 is the example enterprise number
 *   of RFC 5612: an organisation with its own PEN replaces it (sdId option).
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createWriteStream, type WriteStream } from 'node:fs';
import { recordJson, recordRow } from '../protocol/audit/query';
import { createBackoff } from '../protocol/backoff';
import type { CollectorAlert, ForwardedRecord, RecordSink } from './audit-collect';

export const DEFAULT_PEN = 32473;
const FACILITY_LOG_AUDIT = 13;

/** RFC 5424 §6.3.3: inside PARAM-VALUE, '"', '\' and ']' are escaped with a backslash. */
export function escapeSdValue(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** RFC 5424 §6.2: PRINTUSASCII without spaces, at most `max` characters, '-' when empty. */
function header(v: string | undefined, max: number): string {
  const s = (v ?? '').replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return s === '' ? '-' : s;
}

function sdElement(id: string, params: Record<string, string | number | boolean | null | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}="${escapeSdValue(String(v))}"`);
  return `[${id}${parts.length ? ' ' : ''}${parts.join(' ')}]`;
}

function severityOf(r: ForwardedRecord['record']): number {
  if (r.kind === 'decision') return r.decision?.decision === 'deny' ? 4 : 6;
  if (r.kind === 'malformed' || r.kind === 'gap' || r.kind === 'summary') return 4;
  if (r.kind === 'auth' || r.kind === 'policy' || r.kind === 'break-glass' || r.kind === 'grant' || r.kind === 'quarantine') return 5;
  return 6;
}

/** One record as an RFC 5424 message (without transport framing). */
export function formatSyslog(f: ForwardedRecord, o: { pen?: number } = {}): string {
  const pen = o.pen ?? DEFAULT_PEN;
  const r = f.record;
  const pri = FACILITY_LOG_AUDIT * 8 + severityOf(r);
  const ts = Number.isFinite(r.at) ? new Date(r.at).toISOString() : '-';
  let sd = sdElement(`zonegate@${pen}`, { site: f.site, device: f.device, seq: f.seq, hash: f.hash, prev: f.prev, kind: r.kind, source: r.source, policyVersion: r.policyVersion, payload: f.payload });
  if (r.decision) {
    sd += sdElement(`decision@${pen}`, {
      decision: r.decision.decision, conduit: r.decision.conduit, reason: r.decision.reason, identity: r.decision.identity,
      monitor: r.decision.monitor ? 'true' : undefined, src: r.src, srcPort: r.srcPort, asset: r.asset, port: r.port, protocol: r.protocol,
      fc: r.modbus?.function, unit: r.modbus?.unit, address: r.modbus?.address, count: r.modbus?.count,
    });
  }
  const row = recordRow(r);
  const msg = [row.kind, row.decision, row.identity, row.src, row.asset ? `-> ${row.asset}` : '', row.operation, row.detail].filter(Boolean).join(' ');
  return `<${pri}>1 ${ts} ${header(f.device, 255)} zonegate - ${header(r.kind, 32)} ${sd} \ufeff${msg}`;
}

/** A collector alert (a refused batch) as an RFC 5424 message, severity 1 (alert). */
export function formatAlertSyslog(a: CollectorAlert, o: { pen?: number } = {}): string {
  const pen = o.pen ?? DEFAULT_PEN;
  const sd = sdElement(`zonegate@${pen}`, { site: a.site, device: a.device, alert: a.code, fromSeq: a.fromSeq ?? undefined, evidence: a.evidence });
  return `<${FACILITY_LOG_AUDIT * 8 + 1}>1 ${new Date(a.at).toISOString()} ${header(a.device, 255)} zonegate - ${header(a.code, 32)} ${sd} \ufeff${a.message}`;
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function frameOctetCounting(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

/** One record as a JSON line (byte strings as hex, the payload as base64). */
export function formatJsonLine(f: ForwardedRecord): string {
  return JSON.stringify({ device: f.device, site: f.site, seq: f.seq, hash: f.hash, prev: f.prev, payload: f.payload, record: recordJson(f.record) });
}

export interface SinkStatus {
  forwarded: number;
  alerts: number;
  /** Messages dropped because the queue was full (the SIEM unreachable for long). */
  dropped: number;
  queued: number;
  connected?: boolean;
  lastError: string | null;
}

export interface ClosableSink extends RecordSink {
  status(): SinkStatus;
  /** Sends what is queued (waiting at most timeoutMs), then closes. */
  close(timeoutMs?: number): Promise<void>;
}

export interface SyslogSinkOptions {
  host: string;
  port: number;
  /** TLS (RFC 5425): the CA bundle to verify the server with; servername defaults to host. */
  tls?: { ca?: Buffer; servername?: string; cert?: Buffer; key?: Buffer };
  pen?: number;
  /** Messages waiting at most; beyond, the oldest is dropped and counted. Default 100,000. */
  maxQueue?: number;
  random?: () => number;
}

/** Syslog over TCP/TLS with reconnect (capped backoff) and a bounded queue. */
export function createSyslogSink(o: SyslogSinkOptions): ClosableSink {
  const maxQueue = o.maxQueue ?? 100_000;
  const backoff = createBackoff({ initialMs: 500, maxMs: 30_000 });
  const random = o.random ?? Math.random;
  const queue: Buffer[] = [];
  const st: SinkStatus = { forwarded: 0, alerts: 0, dropped: 0, queued: 0, connected: false, lastError: null };
  let sock: Socket | null = null;
  let closing = false;
  let attempts = 0;
  let retry: NodeJS.Timeout | null = null;
  let writing = false;
  let drained: (() => void) | null = null;

  function connect(): void {
    if (closing && queue.length === 0) return;
    const s: Socket = o.tls
      ? tlsConnect({ host: o.host, port: o.port, ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, servername: o.tls.servername ?? (isIP(o.host) ? undefined : o.host) })
      : netConnect({ host: o.host, port: o.port });
    sock = s;
    s.once(o.tls ? 'secureConnect' : 'connect', () => { attempts = 0; st.connected = true; pump(); });
    s.on('error', (e) => { st.lastError = e.message; });
    s.on('drain', () => { writing = false; pump(); });
    s.once('close', () => {
      st.connected = false;
      writing = false;
      if (sock === s) sock = null;
      if (closing && queue.length === 0) return;
      attempts++;
      retry = setTimeout(() => { retry = null; connect(); }, backoff.delay(attempts, random));
    });
  }

  function pump(): void {
    const s = sock;
    if (!s || !st.connected || writing) return;
    while (queue.length > 0) {
      const b = queue.shift() as Buffer;
      if (!s.write(b)) { writing = true; break; }
    }
    st.queued = queue.length;
    if (queue.length === 0 && !writing && drained) { const d = drained; drained = null; d(); }
  }

  function enqueue(b: Buffer): void {
    if (queue.length >= maxQueue) { queue.shift(); st.dropped++; }
    queue.push(b);
    st.queued = queue.length;
    if (!sock && !retry) connect();
    else pump();
  }

  return {
    forward(f) { st.forwarded++; enqueue(frameOctetCounting(formatSyslog(f, { pen: o.pen }))); },
    alert(a) { st.alerts++; enqueue(frameOctetCounting(formatAlertSyslog(a, { pen: o.pen }))); },
    status: () => ({ ...st }),
    async close(timeoutMs = 5000) {
      closing = true;
      if (queue.length > 0 || writing) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, timeoutMs);
          drained = () => { clearTimeout(t); resolve(); };
          pump();
        });
      }
      if (retry) { clearTimeout(retry); retry = null; }
      const s = sock;
      sock = null;
      if (s) await new Promise<void>((resolve) => { s.end(() => resolve()); setTimeout(() => { s.destroy(); resolve(); }, 1000).unref(); });
    },
  };
}

/** JSON lines appended to a file ('-' = stdout): one line per record, alerts as `{ alert }` lines. */
export function createJsonLinesSink(o: { file: string; maxBufferedBytes?: number }): ClosableSink {
  const st: SinkStatus = { forwarded: 0, alerts: 0, dropped: 0, queued: 0, lastError: null };
  const stream: NodeJS.WritableStream = o.file === '-' ? process.stdout : createWriteStream(o.file, { flags: 'a', mode: 0o600 });
  stream.on('error', (e: Error) => { st.lastError = e.message; });
  // Bounded: beyond maxBuffered bytes waiting for the disk (or a stalled stdout), lines are dropped and counted.
  const maxBuffered = o.maxBufferedBytes ?? 64 * 1024 * 1024;
  const write = (line: string): void => {
    if (((stream as NodeJS.WritableStream & { writableLength?: number }).writableLength ?? 0) > maxBuffered) { st.dropped++; return; }
    stream.write(line);
  };
  return {
    forward(f) { st.forwarded++; write(`${formatJsonLine(f)}\n`); },
    alert(a) { st.alerts++; write(`${JSON.stringify({ alert: a })}\n`); },
    status: () => ({ ...st }),
    async close() {
      if (stream === process.stdout) return;
      await new Promise<void>((resolve) => (stream as WriteStream).end(() => resolve()));
    },
  };
}
