// scapy (Debian's python3-scapy, scapy.contrib.scada.iec104) as an independent decoder and
// encoder: (1) every APDU of the shared test conversation, as zonegate encoded it, is decoded by
// scapy and its APCI and ASDU fields (format, N(S)/N(R), U function, type, SQ, N, T, P/N, cause,
// originator, CA, IOAs, command and set-point fields) equal zonegate's parse; (2) frames scapy
// builds are read by zonegate's splitter and parser with the values scapy was given.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApciSplitter, UFunction, TypeId, type ApciFrame } from '../../drivers/iec104';
import { conversation } from '../helpers/iec104';
import { py, SCAPY_DECODE, SCAPY_SKIP, zonegateApdu, scapyShape, type ScapyApdu } from '../helpers/iec104-oracles';

// scapy builds frames and writes [hex, spec] pairs.
const ENCODE = `
import json, sys
from scapy.contrib.scada.iec104 import *
from scapy.contrib.scada.iec104.iec104_information_objects import *
out = []
def add(p, spec): out.append([bytes(p).hex(), spec])
add(IEC104_U_Message(startdt_act=1), {'u': 0x04})
add(IEC104_U_Message(testfr_con=1), {'u': 0x80})
add(IEC104_S_Message(rx_seq_num=32767), {'rx': 32767})
add(IEC104_I_Message_SingleIOA(tx_seq_num=12, rx_seq_num=7, type_id=100, cot=6, common_asdu_address=513,
    io=[IEC104_IO_C_IC_NA_1_IOA(information_object_address=0, qoi=20)]),
    {'tx': 12, 'rx': 7, 'type': 100, 'cause': 6, 'ca': 513, 'ioa': [0]})
add(IEC104_I_Message_SingleIOA(tx_seq_num=1, rx_seq_num=2, type_id=45, cot=6, common_asdu_address=1,
    io=[IEC104_IO_C_SC_NA_1_IOA(information_object_address=4001, s_or_e=1, qu=2, scs=1)]),
    {'tx': 1, 'rx': 2, 'type': 45, 'cause': 6, 'ca': 1, 'ioa': [4001], 'cmd': [1, 2, 1]})
add(IEC104_I_Message_SingleIOA(tx_seq_num=3, rx_seq_num=2, type_id=46, cot=7, ack=1, test=1, origin_address=9, common_asdu_address=1,
    io=[IEC104_IO_C_DC_NA_1_IOA(information_object_address=4100, s_or_e=0, qu=0, dcs=2)]),
    {'tx': 3, 'rx': 2, 'type': 46, 'cause': 7, 'neg': 1, 'test': 1, 'oa': 9, 'ca': 1, 'ioa': [4100], 'cmd': [2, 0, 0]})
add(IEC104_I_Message_SingleIOA(tx_seq_num=4, rx_seq_num=2, type_id=50, cot=6, common_asdu_address=1,
    io=[IEC104_IO_C_SE_NC_1_IOA(information_object_address=5001, scaled_value=-2.5, action=1, ql=0)]),
    {'tx': 4, 'rx': 2, 'type': 50, 'cause': 6, 'ca': 1, 'ioa': [5001], 'cmd': [-2.5, 0, 1]})
add(IEC104_I_Message_SingleIOA(tx_seq_num=5, rx_seq_num=2, type_id=49, cot=6, common_asdu_address=1,
    io=[IEC104_IO_C_SE_NB_1_IOA(information_object_address=5002, scaled_value=-1200, action=0, ql=3)]),
    {'tx': 5, 'rx': 2, 'type': 49, 'cause': 6, 'ca': 1, 'ioa': [5002], 'cmd': [-1200, 3, 0]})
add(IEC104_I_Message_SingleIOA(tx_seq_num=9, rx_seq_num=0, type_id=13, cot=20, common_asdu_address=1,
    io=[IEC104_IO_M_ME_NC_1_IOA(information_object_address=2001, scaled_value=1.5), IEC104_IO_M_ME_NC_1_IOA(information_object_address=2009, scaled_value=2.0)]),
    {'tx': 9, 'rx': 0, 'type': 13, 'cause': 20, 'ca': 1, 'ioa': [2001, 2009]})
add(IEC104_I_Message_SeqIOA(tx_seq_num=10, rx_seq_num=0, type_id=13, cot=20, common_asdu_address=1, information_object_address=100,
    io=[IEC104_IO_M_ME_NC_1(scaled_value=float(k)) for k in range(5)]),
    {'tx': 10, 'rx': 0, 'type': 13, 'sq': 1, 'cause': 20, 'ca': 1, 'ioa': [100, 101, 102, 103, 104]})
add(IEC104_I_Message_SingleIOA(tx_seq_num=11, rx_seq_num=0, type_id=30, cot=3, common_asdu_address=1,
    io=[IEC104_IO_M_SP_TB_1_IOA(information_object_address=1001, spi_value=1, sec_milli=9250, minutes=5, hours=7, weekday=4, day_of_month=3, month=12, year=26)]),
    {'tx': 11, 'rx': 0, 'type': 30, 'cause': 3, 'ca': 1, 'ioa': [1001]})
json.dump(out, sys.stdout)
`;

/** All APDUs of a byte stream, each as its own bytes, through zonegate's splitter. */
function apdus(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  new ApciSplitter({ onApdu: (f: ApciFrame) => { out.push(Buffer.from(f.raw.subarray(0, f.rawLength))); return true; }, onApciMalformed: (m) => { throw new Error(m); } }).push(bytes);
  return out;
}

test('zonegate encodes, scapy decodes: every APDU of the conversation reads the same', () => {
  if (SCAPY_SKIP) { console.log(`  skipped: ${SCAPY_SKIP}`); return; }
  const all = conversation().flatMap((w) => apdus(w.bytes));
  assert.is(all.length, 30);
  const seen = py(SCAPY_DECODE, JSON.stringify(all.map((b) => b.toString('hex')))) as ScapyApdu[];
  assert.is(seen.length, all.length);
  all.forEach((b, k) => assert.equal(scapyShape(seen[k]), zonegateApdu(b), `APDU ${k}: ${b.toString('hex')}`));
  assert.ok(seen.some((p) => p.format === 'I' && p.type === TypeId.C_SE_NC_1 && p.neg === 1), 'the negative confirmation is in it');
});

test('scapy encodes, zonegate decodes: the values scapy was given', () => {
  if (SCAPY_SKIP) { console.log(`  skipped: ${SCAPY_SKIP}`); return; }
  const pairs = py(ENCODE) as [string, Record<string, unknown>][];
  assert.is(pairs.length, 11);
  for (const [hex, spec] of pairs) {
    const got = zonegateApdu(Buffer.from(hex, 'hex'));
    const want: Record<string, unknown> = { ...spec };
    if (got.format === 'I') {
      Object.assign(want, { format: 'I', sq: spec.sq ?? 0, n: (spec.ioa as number[]).length, test: spec.test ?? 0, neg: spec.neg ?? 0, oa: spec.oa ?? 0, cmd: spec.cmd ?? [] });
    } else want.format = 'u' in spec ? 'U' : 'S';
    assert.equal(got, want, hex);
  }
  assert.equal(zonegateApdu(Buffer.from(pairs[0][0], 'hex')), { format: 'U', u: UFunction.STARTDT_ACT });
});

test.run();
