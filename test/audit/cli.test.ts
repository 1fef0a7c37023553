// The audit CLI through the bundled executable: the CLI entry is bundled by esbuild exactly as
// build/bundle.mjs does (into a temp file, so parallel runs never race on dist/), then run as
// `node zonegate.js audit verify|show ...`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, statSync, chmodSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { AuditLog } from '../../runtime/audit/log';
import { loadOrCreateDeviceKey } from '../../runtime/device-key';
import { parseDevicePublicKey } from '../../protocol/device-public-key';
import { ZonegateError } from '../../policy/errors';
import { decisionEvent, makeKey, tempDir } from './helpers';

const t = tempDir('zg-audit-cli-');
const cli = join(t.dir, 'zonegate.js');
const state = join(t.dir, 'state');
let firstSeg = '';

function run(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: process.cwd(), timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test.before(async () => {
  await build({
    entryPoints: ['cli/main.ts'], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
    external: ['@node-rs/argon2', 'cbor-extract', 'playwright-core'], define: { ZONEGATE_VERSION: '"test"' }, logLevel: 'error',
    nodePaths: [join(process.cwd(), 'node_modules')],
  });
  const key = await loadOrCreateDeviceKey({ stateDir: state });
  const log = await AuditLog.open({ dir: join(state, 'audit'), device: 'gw-cli', key, checkpointEvery: 10, flood: false, now: () => Date.parse('2026-03-01T09:59:00Z') });
  for (let i = 0; i < 30; i++) log.record(decisionEvent(i, { at: Date.parse('2026-03-01T10:00:00Z') + i * 60_000 }));
  log.record(decisionEvent(30, { decision: 'deny', at: Date.parse('2026-03-01T10:30:00Z'), asset: 'plc-feeder-2', reason: 'no-conduit' }));
  log.record({ kind: 'auth', at: Date.parse('2026-03-01T10:31:00Z'), source: 'console', message: 'login alice' });
  await log.close();
  firstSeg = readdirSync(join(state, 'audit')).filter((n) => n.endsWith('.seg'))[0];
});
test.after(() => t.cleanup());

test('device key: created 0600 on first start, the same key after, refused when others can read it', async () => {
  const d = join(t.dir, 'keystate');
  const a = await loadOrCreateDeviceKey({ stateDir: d });
  assert.is(a.created, true);
  assert.is(statSync(join(d, 'device-key.pem')).mode & 0o777, 0o600);
  const b = await loadOrCreateDeviceKey({ stateDir: d });
  assert.is(b.created, false);
  assert.equal(b.publicRaw, a.publicRaw);
  assert.equal(parseDevicePublicKey(readFileSync(join(d, 'device-key.pub'), 'utf8'), 'pub'), a.publicRaw);
  assert.equal(parseDevicePublicKey(a.publicRaw.toString('hex'), 'hex'), a.publicRaw);
  chmodSync(join(d, 'device-key.pem'), 0o640);
  try { await loadOrCreateDeviceKey({ stateDir: d }); assert.unreachable(); } catch (e) {
    assert.instance(e, ZonegateError);
    assert.is((e as ZonegateError).code, 'ERR_STORAGE');
    assert.match((e as Error).message, 'is readable by others (mode 640); expected 600');
  }
  try { parseDevicePublicKey('nope', 'k.pub'); assert.unreachable(); } catch (e) {
    assert.is((e as ZonegateError).code, 'ERR_USAGE');
    assert.match((e as Error).message, 'k.pub is not an ed25519 public key');
  }
});

test('audit verify: exit 0 with a summary, the state folder\'s key pinned', () => {
  const r = run('audit', 'verify', state);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, `audit log verified: ${join(state, 'audit')}`);
  assert.match(r.out, 'records: 34 in 1 segment(s)'); // created + 32 events + the checkpoint at the end of the one batch
  assert.match(r.out, 'seq: 0 .. 33');
  assert.match(r.out, 'time: 2026-03-01T09:59:00.000Z .. 2026-03-01T09:59:00.000Z');
  assert.match(r.out, 'checkpoints: 1, last at seq 33 (2026-03-01T09:59:00.000Z, device gw-cli)');
  assert.match(r.out, 'anchor checkpoint.latest: seq 33 reached');
  assert.match(r.out, 'device-key.pub (state folder)');
  const j = run('audit', 'verify', join(state, 'audit'), '--json');
  assert.is(j.code, 0);
  const doc = JSON.parse(j.out);
  assert.is(doc.ok, true);
  assert.is(doc.records, 34);
  assert.is(doc.lastCheckpoint.device, 'gw-cli');
});

test('audit verify: exit 1 naming the first bad record; a wrong --key; a missing folder', () => {
  const bad = join(t.dir, 'bad');
  mkdirSync(bad);
  const bytes = readFileSync(join(state, 'audit', firstSeg));
  let o = 0;
  for (let i = 0; i < 5; i++) o += 8 + bytes.readUInt32BE(o);
  const copy = Buffer.from(bytes);
  copy[o + 12] ^= 0xff;
  writeFileSync(join(bad, firstSeg), copy);
  let r = run('audit', 'verify', bad);
  assert.is(r.code, 1);
  assert.match(r.out, `first bad record: ${firstSeg}, offset ${o}, seq 5`);
  assert.match(r.out, 'crc: CRC mismatch');
  r = run('audit', 'verify', bad, '--json');
  assert.is(r.code, 1);
  const next = o + 8 + bytes.readUInt32BE(o);
  assert.equal(JSON.parse(r.out).error, { code: 'crc', message: JSON.parse(r.out).error.message, segment: firstSeg, offset: o, seq: 5, range: { fromSeq: 5, toSeq: 5, offset: o, endOffset: next } });
  assert.match(JSON.parse(r.out).error.message, `damaged: bytes ${o}..${next} of ${firstSeg} (seq 5..5)`);

  const other = join(t.dir, 'other.pub');
  writeFileSync(other, makeKey().publicRaw.toString('hex'));
  r = run('audit', 'verify', state, '--key', other);
  assert.is(r.code, 1);
  assert.match(r.out, 'checkpoint-key: checkpoint at seq 33 names key');

  r = run('audit', 'verify', join(t.dir, 'nope'));
  assert.is(r.code, 1);
  assert.match(r.err, 'zonegate audit verify: cannot read');
  mkdirSync(join(t.dir, 'empty'));
  r = run('audit', 'verify', join(t.dir, 'empty'));
  assert.is(r.code, 1, 'an empty folder is not a verified log');
  assert.match(r.err, /no audit log in .*empty \(no segment files\): nothing to verify/);
});

test("audit verify OUT/DEVICE: the collector's pinned-key.pub pins the key, as report does (issue 13 item 11)", () => {
  const out = join(t.dir, 'collected', 'gw-cli');
  mkdirSync(out, { recursive: true });
  cpSync(join(state, 'audit'), out, { recursive: true });
  writeFileSync(join(out, 'pinned-key.pub'), readFileSync(join(state, 'device-key.pub')));
  const r = run('audit', 'verify', out);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, `pinned, from ${join(out, 'pinned-key.pub')} (the collector's pinned key)`);
  assert.not.match(r.out, 'NOT pinned');
  const j = JSON.parse(run('audit', 'verify', out, '--json').out);
  assert.is(j.keySource, "the collector's pinned key");
  // The wrong key there fails it, as a key given with --key would.
  writeFileSync(join(out, 'pinned-key.pub'), makeKey().publicRaw.toString('hex'));
  assert.is(run('audit', 'verify', out).code, 1);
});

test('audit show: table, filters, limit, JSON lines, usage errors', () => {
  let r = run('audit', 'show', state, '--kind', 'decision', '--limit', '3');
  assert.is(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.match(lines[0], /^TIME\s+SEQ\s+KIND\s+SRC\s+IDENTITY\s+ASSET\s+OPERATION\s+DECISION\s+CONDUIT\/REASON$/);
  assert.is(lines.length, 5);
  assert.match(lines[3], /2026-03-01T10:30:00.000Z\s+\d+\s+decision\s+10\.10\.1\.5:40030\s+hmi-1\s+plc-feeder-2\s+fc6 unit 1 @30\+1\s+deny\s+no-conduit/);
  assert.match(lines[4], '3 record(s) (of 31 matching)');

  r = run('audit', 'show', state, '--decision', 'deny');
  assert.match(r.out, '1 record(s)');
  r = run('audit', 'show', state, '--asset', 'plc-feeder-1', '--since', '2026-03-01T10:10:00Z', '--until', '2026-03-01T10:19:00Z');
  assert.match(r.out, '10 record(s)');
  assert.match(r.out, 'hmi-reads-feeder');
  r = run('audit', 'show', state, '--identity', 'nobody');
  assert.match(r.out, '0 record(s)');

  r = run('audit', 'show', state, '--kind', 'auth', '--json');
  assert.is(r.code, 0);
  const docs = r.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(docs.length, 1);
  assert.is(docs[0].message, 'login alice');
  assert.match(docs[0].prev, /^[0-9a-f]{64}$/);

  r = run('audit', 'show', state, '--decision', 'maybe');
  assert.is(r.code, 2);
  assert.match(r.err, "--decision must be allow or deny, got 'maybe'");
  r = run('audit', 'show', state, '--since', 'yesterday-ish');
  assert.is(r.code, 2);
  assert.match(r.err, "--since: cannot read the time 'yesterday-ish'");
});

test.run();
