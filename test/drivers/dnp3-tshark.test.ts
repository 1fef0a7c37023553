// tshark (Debian's Wireshark dissector) as the outside oracle: the frames the lab master sends,
// the lab outstation answers, and the proxy answers itself (denials, NO_SELECT echoes) are
// written to pcaps; tshark must dissect them without expert warnings or errors, and its
// function codes, objects and ranges must equal what zonegate's parser read from the same bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createDnp3Proxy, FC, crob } from '../../drivers/dnp3';
import { startOutstation } from '../../runtime/lab/dnp3-outstation';
import { connectMaster, type Dnp3Master } from '../../runtime/lab/dnp3-master';
import { Dnp3Stream } from '../../runtime/lab/dnp3-stream';
import { PcapWriter } from '../helpers/pcap';

const tshark = spawnSync('tshark', ['-G', 'protocols'], { encoding: 'utf8' });
const SKIP = tshark.status !== 0 || !/\tdnp3$/m.test(tshark.stdout ?? '') ? 'tshark with the dnp3 dissector is not installed (build/setup-deps.sh installs it as root)' : null;
const dir = mkdtempSync(join(tmpdir(), 'zg-dnp3-pcap-'));
const FILE = 'test/fixtures/policy/dnp3-substation.yaml';

interface Seen { fn: number; objects: number[]; starts: number[]; stops: number[] }

/** What zonegate's parser reads from a conversation, fragment by fragment, both directions in order. */
function ours(m: Dnp3Master): Seen[] {
  const out: Seen[] = [];
  const mk = (): Dnp3Stream => new Dnp3Stream({
    fragment: (f) => {
      const s: Seen = { fn: f.fn, objects: [], starts: [], stops: [] };
      for (let h = 0; h < f.headers; h++) {
        s.objects.push((f.group[h] << 8) | f.variation[h]);
        if ((f.qualifier[h] & 0x0f) <= 2) { s.starts.push(f.lo[h]); s.stops.push(f.hi[h]); }
      }
      out.push(s);
    },
    service: () => undefined,
    error: (e) => { throw new Error(e); },
  });
  const c = mk(), s = mk();
  for (const w of m.wire) (w.from === 'c' ? c : s).push(w.bytes);
  return out;
}

/** The same from tshark -T json. */
function theirs(pcap: string): Seen[] {
  const json = execFileSync('tshark', ['-r', pcap, '-T', 'json', '--no-duplicate-keys', '-o', 'dnp3.desegment:TRUE', '-Y', 'dnp3.al.func'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const packets = JSON.parse(json) as { _source: { layers: Record<string, unknown> } }[];
  const out: Seen[] = [];
  for (const p of packets) {
    const vals: Record<string, number[]> = {};
    const walk = (o: unknown): void => {
      if (o === null || typeof o !== 'object') return;
      for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
        const list = Array.isArray(v) ? v : [v];
        if (['dnp3.al.func', 'dnp3.al.obj', 'dnp3.al.range.start', 'dnp3.al.range.stop'].includes(k)) {
          for (const x of list) if (typeof x === 'string') (vals[k] ??= []).push(Number(x));
        }
        for (const x of list) walk(x);
      }
    };
    walk(p._source.layers.dnp3);
    for (const fn of vals['dnp3.al.func'] ?? []) out.push({ fn, objects: vals['dnp3.al.obj'] ?? [], starts: vals['dnp3.al.range.start'] ?? [], stops: vals['dnp3.al.range.stop'] ?? [] });
  }
  return out;
}

/**
 * tshark's expert warnings and errors, except "IIN Abnormality": tshark flags every response
 * whose IIN2 reports an error, which is what a refusal is meant to say; those must number
 * exactly the responses we sent with IIN2 error bits.
 */
function expertProblems(pcap: string, iinErrors: number): string {
  const r = execFileSync('tshark', ['-r', pcap, '-q', '-z', 'expert,warn'], { encoding: 'utf8' });
  const lines = r.split('\n').filter((l) => /^\s+\d+\s+\S/.test(l));
  const other = lines.filter((l) => !/DNP 3\.0\s+IIN Abnormality\s*$/.test(l));
  const iin = lines.filter((l) => /IIN Abnormality/.test(l)).reduce((n, l) => n + Number(/^\s+(\d+)/.exec(l)![1]), 0);
  return other.length > 0 || iin !== iinErrors ? `${r}\n(expected ${iinErrors} IIN abnormalities)` : '';
}

function iinErrors(m: Dnp3Master): number {
  let n = 0;
  const s = new Dnp3Stream({ fragment: (f) => { if (f.iin >= 0 && (f.iin & 0x3f) !== 0) n++; }, service: () => undefined, error: () => undefined });
  for (const w of m.wire) if (w.from === 's') s.push(w.bytes);
  return n;
}

function pcapOf(m: Dnp3Master, name: string): string {
  const w = new PcapWriter({ client: { ip: '10.10.0.2', port: 40001 }, server: { ip: '10.10.1.30', port: 20000 } });
  for (const x of m.wire) w.add(x.from, x.bytes);
  const file = join(dir, name);
  w.write(file);
  return file;
}

async function session(m: Dnp3Master): Promise<void> {
  await m.integrityPoll();
  await m.classPoll(1);
  await m.operate({ index: 3, code: 0x81 });
  await m.operate({ index: 1, code: 0x03, sbo: false });
  await m.setAnalog({ index: 2, value: 55 });
  await m.request(FC.OPERATE, [{ group: 12, variation: 1, qualifier: 0x28, indices: [2], objects: [crob({ code: 0x04 })] }]);
  await m.request(FC.DELAY_MEASURE);
  await m.request(FC.COLD_RESTART);
  await m.request(FC.WRITE, [{ group: 80, variation: 1, qualifier: 0x00, start: 7, stop: 7, data: Buffer.from([0]) }]);
}

test('lab master ↔ lab outstation, direct: tshark agrees, no expert warnings', async () => {
  if (SKIP) { console.log(`  skipped: ${SKIP}`); return; }
  const rtu = await startOutstation({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const m = await connectMaster({ host: '127.0.0.1', port: rtu.address().port });
  await session(m);
  rtu.tick();
  await m.classPoll(1);
  m.close();
  await rtu.close();
  const pcap = pcapOf(m, 'direct.pcap');
  assert.is(expertProblems(pcap, iinErrors(m)), '');
  const a = ours(m), b = theirs(pcap);
  assert.is(a.length, 24);
  assert.equal(b, a);
});

test('through the proxy, with its own answers (denials, NO_SELECT): tshark agrees, no expert warnings', async () => {
  if (SKIP) { console.log(`  skipped: ${SKIP}`); return; }
  const rtu = await startOutstation({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const proxy = createDnp3Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtu.address().port }, asset: 'rtu-7', servicePort: 20000,
    decider: new IndexDecider(compile(parsePolicy(readFileSync(FILE, 'utf8'), { file: FILE }))), audit: { record: () => undefined }, now: Date.now,
  });
  await proxy.start(new AbortController().signal);
  const m = await connectMaster({ host: '127.0.0.1', port: proxy.address().port, localAddress: '127.10.0.2' });
  await session(m);
  m.close();
  await proxy.stop();
  await rtu.close();
  assert.ok(proxy.stats.denied >= 3, 'the session has local answers in it');
  const pcap = pcapOf(m, 'proxy.pcap');
  assert.is(expertProblems(pcap, iinErrors(m)), '');
  assert.equal(theirs(pcap), ours(m));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
