/**
 * The gateway's own DNP3 answers to denied requests (IEEE 1815-2012 section 5.2.2, IIN2): a
 * single-fragment RESPONSE from the outstation's link address to the master's, with the
 * request's application sequence, so that the master gets an answer and does not hang:
 *
 *   function-not-allowed, no-conduit, quarantined, schedule, edge auth, grant, port, policy
 *   states, rate-limited                      IIN2.0 NO_FUNC_CODE_SUPPORT ("not here")
 *   object-not-allowed                        IIN2.1 OBJECT_UNKNOWN
 *   address-out-of-range, value-out-of-range,
 *   unit-not-allowed (link address), malformed IIN2.2 PARAMETER_ERROR
 *   select-required (an OPERATE without its SELECT): the request's objects echoed with control
 *   status NO_SELECT (2) in each CROB and analog output, as an outstation answers (11.3.1).
 * A function code IEEE 1815 does not define is answered NO_FUNC_CODE_SUPPORT whatever the reason.
 */
import type { DenyReason } from '../../policy/types';
import { AppControl, Iin2, type AppFragment } from './app';
import { dnp3Function, FC } from './functions';
import { ControlStatus, encodeFrames } from './encode';
import { objectSize, CROB_GROUP, ANALOG_OUTPUT_GROUP } from './objects';

/** The IIN2 bits a denied request is answered with. */
export function iin2ForReason(reason: DenyReason | null): number {
  switch (reason) {
    case 'object-not-allowed': return Iin2.OBJECT_UNKNOWN;
    case 'address-out-of-range': case 'value-out-of-range': case 'unit-not-allowed': case 'malformed': return Iin2.PARAMETER_ERROR;
    default: return Iin2.NO_FUNC_CODE_SUPPORT;
  }
}

/**
 * The link frames answering a denied request fragment (data[off .. off + len), parsed into `f`)
 * from `master` to `outstation`, or null when it gets none (a no-ack function, or no function code).
 */
export function deniedAnswer(data: Buffer, off: number, len: number, f: AppFragment, master: number, outstation: number, reason: DenyReason | null): Buffer | null {
  if (len < 2) return null;
  const fn = dnp3Function(data[off + 1]);
  if (fn !== undefined && !fn.answer) return null;
  const seq = data[off] & AppControl.SEQ;
  if (reason === 'select-required') return localResponse({ master, outstation, seq, iin2: 0, objects: echoWithStatus(data, off, len, f, ControlStatus.NO_SELECT) });
  return localResponse({ master, outstation, seq, iin2: fn === undefined ? Iin2.NO_FUNC_CODE_SUPPORT : iin2ForReason(reason) });
}

/** Link frames of a RESPONSE from `outstation` to `master` with sequence `seq`, IIN2 bits and optional objects. */
export function localResponse(o: { master: number; outstation: number; seq: number; iin2: number; objects?: Uint8Array }): Buffer {
  const objs = o.objects ?? new Uint8Array(0);
  const frag = Buffer.alloc(4 + objs.length);
  frag[0] = AppControl.FIR | AppControl.FIN | (o.seq & AppControl.SEQ);
  frag[1] = FC.RESPONSE;
  frag[2] = 0;
  frag[3] = o.iin2 & 0xff;
  frag.set(objs, 4);
  return encodeFrames({ fragment: frag, src: o.outstation, dest: o.master, fromMaster: false });
}

/** The objects of a parsed SELECT/OPERATE fragment with every control's status set to `status`. */
export function echoWithStatus(data: Buffer, off: number, len: number, f: AppFragment, status: number): Buffer {
  const objs = Buffer.from(data.subarray(off + 2, off + len));
  for (let h = 0; h < f.headers; h++) {
    const g = f.group[h];
    if (g !== CROB_GROUP && g !== ANALOG_OUTPUT_GROUP) continue;
    const size = objectSize(g, f.variation[h]);
    if (size === undefined || size <= 0) continue;
    for (let i = f.ptOff[h]; i < f.ptOff[h + 1]; i++) {
      const at = f.ptData[i];
      if (at >= 2) objs[at - 2 + size - 1] = status;
    }
  }
  return objs;
}
