/**
 * An IEC 104 master/RTU conversation built by zonegate's encoder, segment by segment (the master
 * is `c`, the RTU `s`), for the outside oracles (tshark, scapy): STARTDT, TESTFR, S-frames, a
 * general interrogation with measured values (SQ=0 and SQ=1), a time-tagged single point, single
 * command select and execute, a double command, a set-point refused with a negative
 * confirmation, the gateway's refusals of an unknown CA and IOA (causes 46, 47), a scaled set-point with the test bit, STOPDT.
 */
import {
  UFunction, TypeId, Cause, encodeUFrame, encodeSFrame, encodeIFrame, encodeAsdu, answerAsdu, refusalAsdu,
  qoi, sco, dco, setpointFloat, setpointScaled, measuredFloat, siq, cp56, element, type AsduSpec,
} from '../../drivers/iec104';

export type Dir = 'c' | 's';

/** One conversation, segment by segment: the master is `c`, the RTU `s`. */
export function conversation(): { from: Dir; bytes: Buffer }[] {
  const out: { from: Dir; bytes: Buffer }[] = [];
  const seq = { c: 0, s: 0 };
  const got = { c: 0, s: 0 };
  const i = (from: Dir, spec: AsduSpec): Buffer => {
    const to: Dir = from === 'c' ? 's' : 'c';
    const f = encodeIFrame({ sendSeq: seq[from], recvSeq: got[from], asdu: encodeAsdu(spec) });
    seq[from]++;
    got[to]++;
    return f;
  };
  const send = (from: Dir, ...frames: Buffer[]): void => { out.push({ from, bytes: Buffer.concat(frames) }); };
  const t0 = Date.UTC(2026, 11, 3, 7, 5, 9, 250);

  send('c', encodeUFrame(UFunction.STARTDT_ACT));
  send('s', encodeUFrame(UFunction.STARTDT_CON));
  send('c', encodeUFrame(UFunction.TESTFR_ACT));
  send('s', encodeUFrame(UFunction.TESTFR_CON));
  // General interrogation: activation, confirmation, the data (SQ=0 and SQ=1), termination.
  const gi: AsduSpec = { typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 0, element: qoi(20) }] };
  send('c', i('c', gi));
  send('s', i('s', { ...gi, cause: Cause.ACTIVATION_CON }));
  send('s', i('s', { typeId: TypeId.M_ME_NC_1, cause: Cause.INTERROGATED_STATION, ca: 1, objects: [{ ioa: 2001, element: measuredFloat(49.98) }, { ioa: 2005, element: measuredFloat(-12.5, 0x80) }] }));
  send('s', i('s', { typeId: TypeId.M_ME_NC_1, sq: true, cause: Cause.INTERROGATED_STATION, ca: 1, objects: [100, 101, 102, 103].map((ioa, k) => ({ ioa, element: measuredFloat(k * 1.5) })) }));
  send('s', i('s', { ...gi, cause: Cause.ACTIVATION_TERM }));
  send('c', encodeSFrame({ recvSeq: got.c }));
  // Spontaneous time-tagged single point, two APDUs in one segment with a TESTFR.
  send('s', i('s', { typeId: TypeId.M_SP_TB_1, cause: Cause.SPONTANEOUS, ca: 1, objects: [{ ioa: 1001, element: element(siq(1), cp56(t0)) }] }), encodeUFrame(UFunction.TESTFR_ACT));
  send('c', encodeUFrame(UFunction.TESTFR_CON));
  // Single command: select, confirmation, execute, confirmation, termination.
  const sel: AsduSpec = { typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 4001, element: sco(1, { select: true }) }] };
  const exe: AsduSpec = { ...sel, objects: [{ ioa: 4001, element: sco(1) }] };
  send('c', i('c', sel));
  send('s', i('s', { ...sel, cause: Cause.ACTIVATION_CON }));
  send('c', i('c', exe));
  send('s', i('s', { ...exe, cause: Cause.ACTIVATION_CON }), i('s', { ...exe, cause: Cause.ACTIVATION_TERM }));
  // Double command with a qualifier, and a set-point refused with a negative confirmation.
  send('c', i('c', { typeId: TypeId.C_DC_NA_1, cause: Cause.ACTIVATION, originator: 7, ca: 2, objects: [{ ioa: 4100, element: dco(2, { qu: 1 }) }] }));
  const sp = encodeAsdu({ typeId: TypeId.C_SE_NC_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 5001, element: setpointFloat(110.5, { select: true }) }] });
  send('c', encodeIFrame({ sendSeq: seq.c++, recvSeq: got.c, asdu: sp }));
  got.s++;
  send('s', encodeIFrame({ sendSeq: seq.s++, recvSeq: got.s, asdu: answerAsdu(sp, { cause: Cause.ACTIVATION_CON, negative: true }) }));
  got.c++;
  // The gateway's refusals of an unknown common address (46) and an unknown IOA (47).
  for (const [req, kind] of [
    [encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, ca: 99, objects: [{ ioa: 4001, element: sco(0) }] }), 'unknown-ca'],
    [encodeAsdu({ typeId: TypeId.C_DC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 9999, element: dco(1) }] }), 'unknown-ioa'],
  ] as const) {
    send('c', encodeIFrame({ sendSeq: seq.c++, recvSeq: got.c, asdu: req }));
    got.s++;
    send('s', encodeIFrame({ sendSeq: seq.s++, recvSeq: got.s, asdu: refusalAsdu(req, kind)! }));
    got.c++;
  }
  send('c', i('c', { typeId: TypeId.C_SE_NB_1, cause: Cause.ACTIVATION, test: true, ca: 1, objects: [{ ioa: 5002, element: setpointScaled(-1200, { ql: 3 }) }] }));
  send('s', encodeSFrame({ recvSeq: got.s }));
  send('c', encodeSFrame({ recvSeq: got.c }));
  send('c', encodeUFrame(UFunction.STOPDT_ACT));
  send('s', encodeUFrame(UFunction.STOPDT_CON));
  return out;
}
