/**
 * The gateway's own answers to ASDUs it refuses (issue 17; IEC 60870-5-101:2003 section 7.2.3 and
 * IEC 60870-5-104:2006 section 7.2.3): the received ASDU mirrored back with the P/N bit set and
 *   unknown-type   cause 44   (a type 104 does not define, or one the station does not serve)
 *   unknown-cause  cause 45   (a cause the type does not take)
 *   unknown-ca     cause 46   (a common address not in the policy)
 *   unknown-ioa    cause 47   (an IOA outside the allowed ranges)
 *   denied         cause 7 for an activation (6), 9 for a deactivation (8); a request of
 *                  another cause (a read, cause 5) has no confirmation: answered 47 as a station
 *                  answers a point it does not expose.
 * The test bit is kept. The master sees a refusal, not a t1 timeout; the station never sees the
 * ASDU. The caller wraps the result in an I-format APDU with its window's N(S)/N(R).
 */
import { ASDU_HEADER_BYTES } from './asdu';
import { answerAsdu } from './encode';
import { Cause } from './type-ids';
import type { DenyReason } from '../../policy/types';

export type Iec104Refusal = 'denied' | 'unknown-type' | 'unknown-cause' | 'unknown-ca' | 'unknown-ioa';

/** The cause a refusal is answered with, given the refused ASDU's cause. */
export function refusalCause(kind: Iec104Refusal, receivedCause: number): number {
  switch (kind) {
    case 'unknown-type': return Cause.UNKNOWN_TYPE;
    case 'unknown-cause': return Cause.UNKNOWN_CAUSE;
    case 'unknown-ca': return Cause.UNKNOWN_COMMON_ADDRESS;
    case 'unknown-ioa': return Cause.UNKNOWN_IOA;
    default:
      if (receivedCause === Cause.ACTIVATION) return Cause.ACTIVATION_CON;
      if (receivedCause === Cause.DEACTIVATION) return Cause.DEACTIVATION_CON;
      return Cause.UNKNOWN_IOA;
  }
}

/**
 * The negative answer to asdu[from .. end), or null when it has no complete 6-byte header to
 * mirror (then there is nothing to answer: the connection closes as malformed).
 */
export function refusalAsdu(asdu: Uint8Array, kind: Iec104Refusal, from = 0, end = asdu.length): Buffer | null {
  if (end - from < ASDU_HEADER_BYTES) return null;
  const received = asdu.subarray(from, end);
  return answerAsdu(received, { cause: refusalCause(kind, received[2] & 0x3f), negative: true });
}

/**
 * The refusal a deny reason is answered with: the policy's common address, cause and IOA checks
 * answer as a station does for what it does not have (46, 45, 47); every other deny (a type the
 * conduit does not allow, a value out of bounds, an execute without its select, schedule,
 * edge authentication, grant, rate limit, no conduit) is a negative confirmation (cause 7/9).
 */
export function refusalForReason(reason: DenyReason | null): Iec104Refusal {
  switch (reason) {
    case 'unit-not-allowed': return 'unknown-ca';
    case 'cause-not-allowed': return 'unknown-cause';
    case 'address-out-of-range': return 'unknown-ioa';
    default: return 'denied';
  }
}
