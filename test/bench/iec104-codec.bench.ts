/**
 * The IEC 104 codec's cost per APDU on the hot path: the stream splitter (one fixed buffer, a
 * reused frame) and the ASDU parser (a reused record, typed arrays) beside the plain reference
 * reader of the fuzz test (test/helpers/iec104-reference.ts: whole buffers, arrays, Maps) over
 * the same bytes in the same run. Streams of single commands (C_SC_NA_1, 16 bytes per APDU) and
 * of interrogation replies (M_ME_NC_1, SQ=1, 30 objects, 165 bytes), fed in 1,460-byte chunks.
 * Run: node build/run-bench.mjs iec104
 */
import { performance } from 'node:perf_hooks';
import { ApciSplitter, Asdu, parseAsdu, encodeAsdu, encodeIFrame, TypeId, sco, measuredFloat, type ApciFrame } from '../../drivers/iec104';
import { refAsdu, refSplit } from '../helpers/iec104-reference';
import { printTable, type BenchRow } from './report';

const MS = Number(process.env.ZG_BENCH_SECONDS ?? 1) * 1000;

function stream(asdu: Buffer, n: number): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, k) => encodeIFrame({ sendSeq: k & 0x7fff, recvSeq: 0, asdu })));
}

/** ns per APDU of fn(stream) run repeatedly for MS, median of 5 rounds. */
function measure(s: Buffer, apdus: number, fn: (s: Buffer) => number): number {
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    let n = 0, check = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < MS / 5) { check += fn(s); n += apdus; }
    const dt = performance.now() - t0;
    if (check !== n) throw new Error(`read ${check} of ${n} APDUs`);
    rounds.push((dt * 1e6) / n);
  }
  return rounds.sort((a, b) => a - b)[2];
}

function ours(): (s: Buffer) => number {
  const a = new Asdu();
  let got = 0;
  const sp = (): ApciSplitter => new ApciSplitter({
    onApdu: (f: ApciFrame) => { if (parseAsdu(f.raw, a, 6, f.rawLength)) got++; return true; },
    onApciMalformed: (m) => { throw new Error(m); },
  });
  return (s) => {
    got = 0;
    const splitter = sp();
    for (let i = 0; i < s.length; i += 1460) splitter.push(s, i, Math.min(s.length, i + 1460));
    return got;
  };
}

function reference(s: Buffer): number {
  let got = 0;
  for (const h of refSplit(s).frames) if (refAsdu(Buffer.from(h, 'hex').subarray(6)).ok) got++;
  return got;
}

const cases: [string, Buffer][] = [
  ['C_SC_NA_1 single command', encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: 6, ca: 1, objects: [{ ioa: 4001, element: sco(1) }] })],
  ['M_ME_NC_1 SQ=1 x30', encodeAsdu({ typeId: TypeId.M_ME_NC_1, sq: true, cause: 20, ca: 1, objects: Array.from({ length: 30 }, (_, k) => ({ ioa: 100 + k, element: measuredFloat(k) })) })],
];
const rows: BenchRow[] = [];
for (const [name, asdu] of cases) {
  const n = 1000;
  const s = stream(asdu, n);
  const peer = measure(s, n, reference);
  const value = measure(s, n, ours());
  rows.push({ what: `split + parse, ${name} (${asdu.length + 6} B/APDU)`, value, unit: 'ns/APDU', peer: 'plain reference reader', peerValue: peer, better: 'lower' });
}
printTable('IEC 104 codec: cost per APDU', rows, ['median of 5 rounds; 1,000 APDUs per stream, fed in 1,460-byte chunks; one process, shared machine']);
