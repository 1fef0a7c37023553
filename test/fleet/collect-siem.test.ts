// `zonegate fleet audit collect` through a REAL mosquitto, forwarding to a REAL TCP syslog
// listener in the test (RFC 5424 frames with RFC 6587 octet counting, parsed here), to a TLS
// syslog listener (openssl-made certificate) and to JSON lines. Batches come from a real AuditLog.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { AuditLog } from '../../runtime/audit/log';
import { encodeAuditBatch } from '../../protocol/audit/upload-batch';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { deviceTopic } from '../../protocol/mqtt/topics';
import { runCli } from '../../cli/framework';
import { fleetAuditCollectCommand } from '../../cli/fleet/audit-collect';
import { hostPortOption } from '../../cli/host-port-option';
import { createSyslogSink, escapeSdValue, formatSyslog } from '../../fleet/siem';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { observer, waitFor } from '../sync/helpers';
import { decisionEvent, makeKey, tempDir } from '../audit/helpers';
import type { ForwardedRecord } from '../../fleet/audit-collect';

const SITE = 'site-a';
const skip = skipReason();
const t = tempDir('zg-collect-');
const key = makeKey();
let broker: Mosquitto;
let server: Server;
let port = 0;
let received = Buffer.alloc(0);

/** RFC 6587 §3.4.1: MSG-LEN SP SYSLOG-MSG, repeated. */
function parseOctetCounted(buf: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(buf.subarray(i, sp).toString('ascii'));
    if (!Number.isInteger(len) || sp + 1 + len > buf.length) break;
    out.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    i = sp + 1 + len;
  }
  return out;
}

/** RFC 5424 §6: header fields and the SD elements' params. */
function parse5424(msg: string): { pri: number; version: string; ts: string; host: string; app: string; msgid: string; sd: Record<string, Record<string, string>>; text: string } {
  const m = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(msg);
  if (!m) throw new Error(`not RFC 5424: ${msg.slice(0, 80)}`);
  let rest = msg.slice(m[0].length);
  const sd: Record<string, Record<string, string>> = {};
  while (rest.startsWith('[')) {
    const idEnd = rest.search(/[ \]]/);
    const id = rest.slice(1, idEnd);
    rest = rest.slice(idEnd);
    const params: Record<string, string> = {};
    for (;;) {
      const pm = /^ ([^= \]"]+)="((?:[^"\\]|\\.)*)"/.exec(rest);
      if (!pm) break;
      params[pm[1]] = pm[2].replace(/\\(["\\\]])/g, '$1');
      rest = rest.slice(pm[0].length);
    }
    if (rest[0] !== ']') throw new Error(`bad SD: ${rest.slice(0, 40)}`);
    rest = rest.slice(1);
    sd[id] = params;
  }
  return { pri: Number(m[1]), version: m[2], ts: m[3], host: m[4], app: m[5], msgid: m[7], sd, text: rest.replace(/^ \ufeff/, '') };
}

test.before(async () => {
  if (skip) return;
  broker = await startMosquitto();
  server = createServer((s) => s.on('data', (d) => { received = Buffer.concat([received, d]); }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
});
test.after(async () => {
  if (skip) return;
  server?.close();
  await broker?.close();
  t.cleanup();
});

test('syslog helpers: SD escaping, HOST:PORT parsing', () => {
  assert.is(escapeSdValue('a"b\\c]d'), 'a\\"b\\\\c\\]d');
  assert.equal(hostPortOption('127.0.0.1:6514', 'x'), { host: '127.0.0.1', port: 6514 });
  assert.equal(hostPortOption('[::1]:514', 'x'), { host: '::1', port: 514 });
  assert.equal(hostPortOption('siem.example:6514', 'x'), { host: 'siem.example', port: 6514 });
  try { hostPortOption('nope', '--syslog'); assert.unreachable(); } catch (e) { assert.match((e as Error).message, '--syslog: must be HOST:PORT'); }
  try { hostPortOption('::1:514', '--syslog'); assert.unreachable(); } catch (e) { assert.match((e as Error).message, 'an IPv6 address must be written in brackets: [::1]:514'); }
  try { hostPortOption('127.0.0.1:0', '--syslog'); assert.unreachable(); } catch (e) { assert.match((e as Error).message, 'port must be 1..65535'); }
});

test('collect: stores, verifies, forwards syslog + JSON lines; exits when idle', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const out = join(t.dir, 'out');
  const jsonl = join(t.dir, 'records.jsonl');
  const keyDir = join(t.dir, 'keys');
  spawnSync('mkdir', ['-p', keyDir]);
  writeFileSync(join(keyDir, 'gw-7.pub'), key.publicRaw.toString('hex'));
  const log = await AuditLog.open({ dir: join(t.dir, 'dev', 'audit'), device: 'gw-7', key, checkpointEvery: 10, flushDelayMs: 1, flood: false });
  for (let i = 0; i < 25; i++) log.record(decisionEvent(i, { decision: i % 5 === 0 ? 'deny' : 'allow', reason: 'no-conduit', at: Date.parse('2026-05-01T10:00:00Z') + i * 1000 }));
  log.record({ kind: 'auth', at: Date.parse('2026-05-01T10:01:00Z'), source: 'console', message: 'login "alice" [ok]', detail: { identity: 'alice' } });
  await log.close();
  const total = log.status().nextSeq;

  const lines: string[] = [];
  const errs: string[] = [];
  const ac = new AbortController();
  const run = runCli(['fleet', 'audit', 'collect', '--broker', broker.url, '--site', SITE, '--out', out, '--key-dir', keyDir,
    '--syslog', `127.0.0.1:${port}`, '--jsonl', jsonl, '--until-idle', '2s', '--json', '--client-id', 'collect-test-1'],
  [fleetAuditCollectCommand], { out: (s) => lines.push(s), err: (s) => errs.push(s) }, ac.signal);
  // Publish in two batches, the second one twice (a duplicate), once the collector subscribed.
  const c = await observer(broker.url);
  // The collector says so on stderr once its subscription is granted (no sleep-and-hope).
  for (let i = 0; i < 1500 && !errs.some((e) => e.startsWith('collecting audit logs of site')); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(errs.some((e) => e.startsWith('collecting audit logs of site')), errs.join('\n'));
  const { records } = await log.readFrom(0, 1000);
  const topic = deviceTopic({ site: SITE, device: 'gw-7', kind: 'audit' });
  const b1 = encodeAuditBatch({ device: 'gw-7', site: SITE, fromSeq: 0, records: records.slice(0, 12).map((r) => r.payload) });
  const b2 = encodeAuditBatch({ device: 'gw-7', site: SITE, fromSeq: 12, records: records.slice(12).map((r) => r.payload) });
  const acks: number[] = [];
  await c.subscribeAsync(deviceTopic({ site: SITE, device: 'gw-7', kind: 'audit/ack' }), { qos: 1 });
  c.on('message', (_t, p) => acks.push(JSON.parse(p.toString()).through));
  await c.publishAsync(topic, b1, { qos: 1 });
  await c.publishAsync(topic, b2, { qos: 1 });
  await c.publishAsync(topic, b2, { qos: 1 });
  const code = await run;
  await c.endAsync();
  assert.is(code, 0, errs.join('\n'));
  const summary = JSON.parse(lines.join('\n'));
  assert.is(summary.ok, true);
  assert.is(summary.stored, total);
  assert.is(summary.duplicates, 1);
  assert.is(summary.devices[0].key, 'key-dir');
  assert.is(summary.devices[0].through, total - 1);
  assert.ok(acks.includes(total - 1), `acked through ${total - 1}: ${acks}`);

  const report = await verifyAuditDir(join(out, 'gw-7'), { devicePublicKey: key.publicRaw });
  assert.ok(report.ok, JSON.stringify(report.error));
  assert.is(report.records, total);

  // Syslog: one frame per record, in seq order, with the chain position.
  await waitFor(() => parseOctetCounted(received).length >= total, 'every syslog frame');
  const msgs = parseOctetCounted(received).map(parse5424);
  assert.is(msgs.length, total);
  let prevHash = '0'.repeat(64);
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    const z = m.sd['zonegate@32473'];
    assert.is(m.version, '1');
    assert.is(m.host, 'gw-7');
    assert.is(m.app, 'zonegate');
    assert.is(z.device, 'gw-7');
    assert.is(z.site, SITE);
    assert.is(Number(z.seq), i);
    assert.is(z.prev, prevHash, `prev of seq ${i}`);
    // The exact payload re-hashes to the hash: the evidence stays checkable downstream.
    assert.is(createHash('sha256').update(Buffer.from(z.payload, 'base64')).digest('hex'), z.hash);
    prevHash = z.hash;
  }
  const deny = msgs.find((m) => m.sd['decision@32473']?.decision === 'deny')!;
  assert.is(deny.pri, 13 * 8 + 4);
  assert.is(deny.msgid, 'decision');
  assert.is(deny.sd['decision@32473'].reason, 'no-conduit');
  assert.is(deny.sd['decision@32473'].asset, 'plc-feeder-1');
  const auth = msgs.find((m) => m.msgid === 'auth')!;
  assert.is(auth.pri, 13 * 8 + 5);
  assert.match(auth.text, 'login "alice" [ok]');
  assert.ok(msgs.some((m) => m.msgid === 'checkpoint'));

  // JSON lines: the same chain.
  const jl = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.is(jl.length, total);
  assert.is(jl[5].seq, 5);
  assert.is(jl[5].hash, msgs[5].sd['zonegate@32473'].hash);
  assert.is(jl[5].record.kind, 'decision');
  assert.is(typeof jl[5].record.prev, 'string');
});

test('collect: a batch that does not verify is refused, exit 1, evidence kept', async () => {
  if (skip) return;
  const out = join(t.dir, 'out');
  // Records of another key for gw-7 (pinned from --key-dir): checkpoints fail.
  const other = makeKey();
  const log = await AuditLog.open({ dir: join(t.dir, 'dev2', 'audit'), device: 'gw-8', key: other, checkpointEvery: 5, flushDelayMs: 1, flood: false });
  for (let i = 0; i < 8; i++) log.record(decisionEvent(i));
  await log.close();
  const keyDir = join(t.dir, 'keys');
  writeFileSync(join(keyDir, 'gw-8.pub'), key.publicRaw.toString('hex'));
  const lines: string[] = [];
  const errs: string[] = [];
  const run = runCli(['fleet', 'audit', 'collect', '--broker', broker.url, '--site', SITE, '--out', out, '--key-dir', keyDir, '--until-idle', '1.5s', '--client-id', 'collect-test-2'],
    [fleetAuditCollectCommand], { out: (s) => lines.push(s), err: (s) => errs.push(s) }, new AbortController().signal);
  const c = await observer(broker.url);
  // The collector says so on stderr once its subscription is granted (no sleep-and-hope).
  for (let i = 0; i < 1500 && !errs.some((e) => e.startsWith('collecting audit logs of site')); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(errs.some((e) => e.startsWith('collecting audit logs of site')), errs.join('\n'));
  const { records } = await log.readFrom(0, 100);
  await c.publishAsync(deviceTopic({ site: SITE, device: 'gw-8', kind: 'audit' }), encodeAuditBatch({ device: 'gw-8', site: SITE, fromSeq: 0, records: records.map((r) => r.payload) }), { qos: 1 });
  const code = await run;
  await c.endAsync();
  assert.is(code, 1);
  const refusal = errs.find((e) => e.startsWith('REFUSED gw-8'));
  assert.ok(refusal, errs.join('\n'));
  assert.match(refusal!, 'fails verification (checkpoint-key)');
  assert.match(lines.join('\n'), '1 refused');
  assert.ok(!existsSync(join(out, 'gw-8', 'audit-0000000000000000.seg')), 'nothing stored');
});

test('syslog over TLS (RFC 5425) to a real TLS listener', async () => {
  if (skip) return;
  const dir = t.dir;
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { encoding: 'utf8' });
  if (r.status !== 0) { console.log(`SKIP TLS: openssl failed: ${r.stderr}`); return; }
  let got = Buffer.alloc(0);
  const tls = createTlsServer({ key: readFileSync(join(dir, 'tls.key')), cert: readFileSync(join(dir, 'tls.crt')) }, (s) => s.on('data', (d) => { got = Buffer.concat([got, d]); }));
  await new Promise<void>((res) => tls.listen(0, '127.0.0.1', () => res()));
  const sink = createSyslogSink({ host: '127.0.0.1', port: (tls.address() as { port: number }).port, tls: { ca: readFileSync(join(dir, 'tls.crt')) } });
  const fr: ForwardedRecord = { device: 'gw-9', site: SITE, seq: 3, hash: 'ab'.repeat(32), prev: 'cd'.repeat(32), payload: 'AAAA', record: { v: 1, seq: 3, prev: new Uint8Array(32), kind: 'config', at: 0, source: 'gateway', message: 'x' } };
  sink.forward(fr);
  await waitFor(() => parseOctetCounted(got).length === 1, 'the TLS frame');
  await sink.close();
  tls.close();
  const m = parse5424(parseOctetCounted(got)[0]);
  assert.is(m.sd['zonegate@32473'].seq, '3');
  assert.is(parseOctetCounted(got)[0], formatSyslog(fr));
  assert.is(sink.status().lastError, null);
});

test.run();
