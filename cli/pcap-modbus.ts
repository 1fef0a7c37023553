/**
 * Modbus/TCP requests out of a capture file, through Debian's tshark (`tshark -r FILE -T fields`):
 * one observation per request PDU (the frames sent to a Modbus port), with source and destination
 * address, destination port, unit, function and the addressed range(s), for `policy learn --pcap`.
 * Only the first Modbus PDU of a TCP segment is read (tshark's occurrence=f).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ZonegateError } from '../policy/errors';
import type { LearnObservation } from '../policy/learn/learn';

const FIELDS = [
  'frame.time_epoch', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'tcp.dstport', 'mbtcp.unit_id', 'modbus.func_code',
  'modbus.reference_num', 'modbus.word_cnt', 'modbus.bit_cnt', 'modbus.read_reference_num', 'modbus.read_word_cnt',
  'modbus.write_reference_num', 'modbus.write_word_cnt',
] as const;

/** The quantity a request addresses, by the function's request layout (Modbus Application Protocol 6.x). */
function countOf(fn: number, word: number, bit: number): number {
  if (fn === 1 || fn === 2 || fn === 15) return bit;
  if (fn === 3 || fn === 4 || fn === 16) return word;
  if (fn === 5 || fn === 6 || fn === 22 || fn === 24) return 1;
  return 0;
}

/** Parses one tab-separated line of FIELDS; undefined for lines that are not a request. */
export function parseTsharkLine(line: string): LearnObservation | undefined {
  const f = line.split('\t');
  if (f.length < FIELDS.length) return undefined;
  const num = (i: number): number => (f[i] === '' ? NaN : Number(f[i]));
  const fn = num(7), unit = num(6), port = num(5);
  if (!Number.isInteger(fn) || !Number.isInteger(unit) || !Number.isInteger(port) || fn >= 0x80) return undefined;
  const src = f[1] || f[2], dst = f[3] || f[4];
  if (!src || !dst) return undefined;
  const at = Math.round(num(0) * 1000);
  const word = num(9), bit = num(10);
  let address = Number.isInteger(num(8)) ? num(8) : 0;
  let count = countOf(fn, Number.isInteger(word) ? word : 0, Number.isInteger(bit) ? bit : 0);
  const obs: LearnObservation = { kind: 'request', at: Number.isFinite(at) ? at : 0, src, dst, port, protocol: 'modbus', modbus: { function: fn, unit, address, count } };
  if (fn === 23) {
    address = num(11); count = num(12);
    if (obs.modbus) { obs.modbus.address = Number.isInteger(address) ? address : 0; obs.modbus.count = Number.isInteger(count) ? count : 0; }
    if (Number.isInteger(num(13)) && Number.isInteger(num(14))) obs.detail = { writeAddress: num(13), writeCount: num(14) };
  }
  return obs;
}

/** Streams the Modbus requests of `file` into `each`; ports other than 502 are decoded as Modbus/TCP too. */
export async function readPcapModbus(file: string, ports: readonly number[], each: (obs: LearnObservation) => void): Promise<{ requests: number }> {
  const decodeAs = ports.filter((p) => p !== 502).flatMap((p) => ['-d', `tcp.port==${p},mbtcp`]);
  const all = [...new Set([502, ...ports])];
  const args = ['-r', file, '-n', ...decodeAs, '-Y', `modbus && tcp.dstport in {${all.join(' ')}}`, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f',
    ...FIELDS.flatMap((x) => ['-e', x])];
  const p = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { if (err.length < 4000) err += d; });
  let requests = 0;
  const rl = createInterface({ input: p.stdout });
  rl.on('line', (line) => { const o = parseTsharkLine(line); if (o) { requests++; each(o); } });
  const code = await new Promise<number | null>((resolve, reject) => {
    p.on('error', (e: NodeJS.ErrnoException) => reject(new ZonegateError('ERR_FILE', `cannot read ${file}: ${e.code === 'ENOENT' ? 'tshark is not installed (Debian package tshark)' : e.message}`, { cause: e })));
    p.on('close', resolve);
  });
  if (code !== 0) throw new ZonegateError('ERR_FILE', `tshark could not read ${file}: ${err.trim().split('\n').pop() ?? `exit ${code}`}`);
  return { requests };
}
