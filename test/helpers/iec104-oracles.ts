/**
 * The outside oracles of the IEC 104 tests, shared: tshark's iec60870_104/iec60870_asdu dissectors
 * (tsharkRead: APCI and ASDU fields of a capture; tsharkProblems: malformed packets and expert
 * items of any severity) and scapy's scapy.contrib.scada.iec104 (SCAPY_DECODE via py(): each APDU
 * decoded; scapyShape: its reading in zonegate's terms), beside zonegate's own reading of an APDU.
 */
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { ApciSplitter, ApciFormat, Asdu, parseAsdu, CommandKind } from '../../drivers/iec104';

export const PY = '/usr/bin/python3';
const probe = spawnSync(PY, ['-c', 'import scapy.contrib.scada.iec104'], { encoding: 'utf8' });
export const SCAPY_SKIP = probe.status !== 0 ? 'python3-scapy (scapy.contrib.scada.iec104) is not installed: apt-get install python3-scapy' : null;

export interface Apci { format: number; u?: number; tx?: number; rx?: number }
export interface AsduSeen { type: number; sq: number; n: number; cause: number; neg: number; test: number; oa: number; ca: number; ioa: number[]; cmd: number[] }

/** tshark's utype is the U function bit shifted down by two (STARTDT act 0x01 .. TESTFR con 0x20). */
export const TSHARK_FORMAT: Record<number, number> = { 0: ApciFormat.I, 1: ApciFormat.S, 3: ApciFormat.U };

/** The same from tshark -T json. */
export function tsharkRead(pcap: string, port = 2404, filter = 'iec60870_104'): { apci: Apci[]; asdu: AsduSeen[] } {
  const json = execFileSync('tshark', ['-r', pcap, '-T', 'json', '--no-duplicate-keys', '-d', `tcp.port==${port},iec60870_104`, '-Y', filter], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const packets = JSON.parse(json) as { _source: { layers: Record<string, unknown> } }[];
  const apci: Apci[] = [], asdu: AsduSeen[] = [];
  const list = (v: unknown): Record<string, unknown>[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]) as Record<string, unknown>[];
  const num = (v: unknown): number => (v === 'True' ? 1 : v === 'False' ? 0 : Number(v));
  for (const p of packets) {
    for (const l of list(p._source.layers.iec60870_104)) {
      const format = TSHARK_FORMAT[num(l['iec60870_104.type'])];
      if (format === ApciFormat.U) apci.push({ format, u: num(l['iec60870_104.utype']) });
      else if (format === ApciFormat.S) apci.push({ format, rx: num(l['iec60870_104.rx']) });
      else apci.push({ format, tx: num(l['iec60870_104.tx']), rx: num(l['iec60870_104.rx']) });
    }
    for (const l of list(p._source.layers.iec60870_asdu)) {
      const ioa: number[] = [], cmd: number[] = [];
      for (const [k, v] of Object.entries(l)) {
        if (!k.startsWith('IOA')) continue;
        for (const o of list(v)) {
          ioa.push(num(o['iec60870_asdu.ioa']));
          const sco = o['iec60870_asdu.sco_tree'] as Record<string, unknown> | undefined;
          const dco = o['iec60870_asdu.dco_tree'] as Record<string, unknown> | undefined;
          const qos = o['iec60870_asdu.qos_tree'] as Record<string, unknown> | undefined;
          if (sco) cmd.push(num(sco['iec60870_asdu.sco.on']), num(sco['iec60870_asdu.sco.qu']), num(sco['iec60870_asdu.sco.se']));
          if (dco) cmd.push(num(dco['iec60870_asdu.dco.on']), num(dco['iec60870_asdu.dco.qu']), num(dco['iec60870_asdu.dco.se']));
          if (qos) cmd.push(num(o['iec60870_asdu.float'] ?? o['iec60870_asdu.scalval'] ?? o['iec60870_asdu.normval']), num(qos['iec60870_asdu.qos.ql']), num(qos['iec60870_asdu.qos.se']));
        }
      }
      asdu.push({
        type: num(l['iec60870_asdu.typeid']), sq: num(l['iec60870_asdu.sq']), n: num(l['iec60870_asdu.numix']), cause: num(l['iec60870_asdu.causetx']),
        neg: num(l['iec60870_asdu.nega']), test: num(l['iec60870_asdu.test']), oa: num(l['iec60870_asdu.oa']), ca: num(l['iec60870_asdu.addr']), ioa, cmd,
      });
    }
  }
  return { apci, asdu };
}

/** Malformed packets and expert items of any severity (notes included); `allowed` items (a live capture's TCP close notes) excepted. */
export function tsharkProblems(pcap: string, port = 2404, allowed?: RegExp): string {
  const malformed = execFileSync('tshark', ['-r', pcap, '-d', `tcp.port==${port},iec60870_104`, '-Y', '_ws.malformed || (_ws.expert && (iec60870_104 || iec60870_asdu))'], { encoding: 'utf8' });
  const expert = execFileSync('tshark', ['-r', pcap, '-d', `tcp.port==${port},iec60870_104`, '-q', '-z', 'expert,note'], { encoding: 'utf8' });
  const items = expert.split('\n').filter((l) => /^\s+\d+\s+\S/.test(l) && !(allowed?.test(l) ?? false));
  return malformed.trim() !== '' || items.length > 0 ? `${malformed}\n${expert}` : '';
}

// Reads a JSON list of APDU hex strings on stdin, writes scapy's reading of each as JSON.
export const SCAPY_DECODE = `
import json, sys
from scapy.contrib.scada.iec104 import iec104_decode, IEC104_I_Message_SeqIOA, IEC104_S_Message, IEC104_U_Message
out = []
for h in json.load(sys.stdin):
    p = iec104_decode(bytes.fromhex(h))
    if isinstance(p, IEC104_U_Message):
        bits = [('startdt_act', 0x04), ('startdt_con', 0x08), ('stopdt_act', 0x10), ('stopdt_con', 0x20), ('testfr_act', 0x40), ('testfr_con', 0x80)]
        out.append({'format': 'U', 'u': sum(v for n, v in bits if getattr(p, n))})
    elif isinstance(p, IEC104_S_Message):
        out.append({'format': 'S', 'rx': p.rx_seq_num})
    else:
        io = []
        for o in p.io:
            f = {k: (float(v) if isinstance(v, float) else v) for k, v in o.fields.items() if isinstance(v, (int, float))}
            io.append(f)
        first = p.information_object_address if isinstance(p, IEC104_I_Message_SeqIOA) else None
        out.append({'format': 'I', 'tx': p.tx_seq_num, 'rx': p.rx_seq_num, 'type': p.type_id, 'sq': p.sq, 'n': p.num_io,
                    'test': p.test, 'neg': p.ack, 'cause': p.cot, 'oa': p.origin_address, 'ca': p.common_asdu_address, 'first': first, 'io': io,
                    'trailing': len(bytes(p.payload)) if p.payload else 0})
json.dump(out, sys.stdout)
`;

export function py(script: string, input = ''): unknown {
  const r = spawnSync(PY, ['-c', script], { input, encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`python3 exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

/** zonegate's reading of one APDU, in the shape the scripts use. */
export function zonegateApdu(apdu: Buffer): Record<string, unknown> {
  let r: Record<string, unknown> = {};
  new ApciSplitter({
    onApdu: (f) => {
      if (f.format === ApciFormat.U) { r = { format: 'U', u: f.uFunction }; return true; }
      if (f.format === ApciFormat.S) { r = { format: 'S', rx: f.recvSeq }; return true; }
      const a = new Asdu();
      if (!parseAsdu(f.raw, a, 6, f.rawLength)) throw new Error(a.message);
      const cmd: number[] = [];
      for (let k = 0; k < a.count; k++) if (a.command !== CommandKind.NONE) cmd.push(a.value[k], a.qualifier[k], a.select[k]);
      r = { format: 'I', tx: f.sendSeq, rx: f.recvSeq, type: a.typeId, sq: +a.sq, n: a.count, test: +a.test, neg: +a.negative, cause: a.cause, oa: a.originator, ca: a.ca, ioa: Array.from(a.ioa.subarray(0, a.count)), cmd };
      return true;
    },
    onApciMalformed: (m) => { throw new Error(m); },
  }).push(apdu);
  return r;
}

interface ScapyI { format: 'I'; tx: number; rx: number; type: number; sq: number; n: number; test: number; neg: number; cause: number; oa: number; ca: number; first: number | null; io: Record<string, number>[]; trailing: number }
export type ScapyApdu = { format: 'U'; u: number } | { format: 'S'; rx: number } | ScapyI;

/** scapy's reading, reshaped: IOAs (SQ=1: consecutive from the first), command fields as zonegate orders them. */
export function scapyShape(p: ScapyApdu): Record<string, unknown> {
  if (p.format !== 'I') return p;
  assert.is(p.trailing, 0, 'scapy read the whole ASDU');
  const ioa = p.first === null ? p.io.map((o) => o.information_object_address) : p.io.map((_, k) => p.first! + k);
  const cmd: number[] = [];
  for (const o of p.io) {
    if ('scs' in o) cmd.push(o.scs, o.qu, o.s_or_e);
    else if ('dcs' in o) cmd.push(o.dcs, o.qu, o.s_or_e);
    else if ('action' in o) cmd.push(o.scaled_value ?? o.normed_value, o.ql, o.action);
  }
  return { format: 'I', tx: p.tx, rx: p.rx, type: p.type, sq: p.sq, n: p.n, test: p.test, neg: p.neg, cause: p.cause, oa: p.oa, ca: p.ca, ioa, cmd };
}

