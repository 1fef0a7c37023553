// tshark (Debian's Wireshark dissectors iec60870_104 and iec60870_asdu) as the outside oracle:
// a master/RTU conversation built by zonegate's encoder (STARTDT, TESTFR, S-frames, general
// interrogation, single command select and execute, set-point with a negative confirmation,
// measured values with SQ=0 and SQ=1, a time-tagged single point, STOPDT) is written to a pcap;
// tshark must dissect it without malformed packets or expert items, and its APCI fields (format,
// U function, N(S), N(R)) and ASDU fields (type, SQ, N, cause, P/N, T, originator, CA, IOAs,
// command state, S/E, QU/QL, set-point value) must equal what zonegate's parser read from the
// same bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApciSplitter, ApciFormat, Asdu, parseAsdu, CommandKind, TypeId, encodeIFrame } from '../../drivers/iec104';
import { PcapWriter } from '../helpers/pcap';
import { conversation, type Dir } from '../helpers/iec104';
import { tsharkRead, tsharkProblems, type Apci, type AsduSeen } from '../helpers/iec104-oracles';

const protocols = spawnSync('tshark', ['-G', 'protocols'], { encoding: 'utf8' });
const SKIP = protocols.status !== 0 || !/\tiec60870_104$/m.test(protocols.stdout ?? '') || !/\tiec60870_asdu$/m.test(protocols.stdout ?? '')
  ? 'tshark with the iec60870_104 and iec60870_asdu dissectors is not installed (build/setup-deps.sh installs it as root)' : null;
const dir = mkdtempSync(join(tmpdir(), 'zg-iec104-pcap-'));

/** What zonegate reads, in the order tshark lists it (per segment: APDUs, then their ASDUs). */
function ours(conv: { from: Dir; bytes: Buffer }[]): { apci: Apci[]; asdu: AsduSeen[] } {
  const apci: Apci[] = [], asdu: AsduSeen[] = [];
  const a = new Asdu();
  const mk = (): ApciSplitter => new ApciSplitter({
    onApdu: (f) => {
      if (f.format === ApciFormat.U) apci.push({ format: f.format, u: f.uFunction >> 2 });
      else if (f.format === ApciFormat.S) apci.push({ format: f.format, rx: f.recvSeq });
      else {
        apci.push({ format: f.format, tx: f.sendSeq, rx: f.recvSeq });
        if (!parseAsdu(f.raw, a, 6, f.rawLength)) throw new Error(a.message);
        const cmd: number[] = [];
        for (let k = 0; k < a.count; k++) {
          if (a.command === CommandKind.SINGLE || a.command === CommandKind.DOUBLE) cmd.push(a.value[k], a.qualifier[k], a.select[k]);
          else if (a.command === CommandKind.FLOAT || a.command === CommandKind.SCALED) cmd.push(a.value[k], a.qualifier[k], a.select[k]);
        }
        asdu.push({ type: a.typeId, sq: +a.sq, n: a.count, cause: a.cause, neg: +a.negative, test: +a.test, oa: a.originator, ca: a.ca, ioa: Array.from(a.ioa.subarray(0, a.count)), cmd });
      }
      return true;
    },
    onApciMalformed: (m) => { throw new Error(m); },
  });
  const split = { c: mk(), s: mk() };
  for (const w of conv) split[w.from].push(w.bytes);
  return { apci, asdu };
}

test('encoder → pcap → tshark: APCI and ASDU fields equal zonegate\'s parse, no malformed or expert items', () => {
  if (SKIP) { console.log(`  skipped: ${SKIP}`); return; }
  const conv = conversation();
  const w = new PcapWriter({ client: { ip: '10.10.0.2', port: 40001 }, server: { ip: '10.10.1.30', port: 2404 } });
  for (const x of conv) w.add(x.from, x.bytes);
  const pcap = join(dir, 'iec104.pcap');
  w.write(pcap);
  assert.is(tsharkProblems(pcap), '');
  const a = ours(conv), b = tsharkRead(pcap);
  assert.is(a.apci.length, 30);
  assert.is(a.asdu.length, 19);
  assert.equal(a.asdu.filter((x) => x.neg === 1).map((x) => x.cause), [7, 46, 47]);
  assert.equal(a.apci.filter((x) => x.format === ApciFormat.U).map((x) => x.u), [0x01, 0x02, 0x10, 0x20, 0x10, 0x20, 0x04, 0x08]);
  assert.equal(a.asdu.find((x) => x.type === TypeId.M_ME_NC_1 && x.sq === 1)?.ioa, [100, 101, 102, 103]);
  assert.equal(a.asdu.find((x) => x.type === TypeId.C_SE_NC_1 && x.neg === 1)?.cmd, [110.5, 0, 1]);
  assert.equal(b.apci, a.apci);
  assert.equal(b.asdu, a.asdu);
});

test('tshark agrees a truncated ASDU is malformed where zonegate faults it', () => {
  if (SKIP) { console.log(`  skipped: ${SKIP}`); return; }
  // C_SC_NA_1 whose element is cut off: the APDU is well framed, the ASDU is one byte short.
  const asdu = Buffer.from('2d0106000100a00f00', 'hex');
  const a = new Asdu();
  assert.not.ok(parseAsdu(asdu, a));
  assert.match(a.message, 'needs 4 bytes after the header, has 3');
  const w = new PcapWriter({ client: { ip: '10.10.0.2', port: 40001 }, server: { ip: '10.10.1.30', port: 2404 } });
  w.add('c', encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu }));
  const pcap = join(dir, 'short.pcap');
  w.write(pcap);
  assert.ok(tsharkProblems(pcap) !== '', 'tshark reports the short ASDU');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
