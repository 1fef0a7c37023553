/**
 * Station direction (what the RTU sends toward the master, IEC 60870-5-101:2003 section 7.2.3,
 * IEC 60870-5-104 section 7.2.3): monitor-direction types (1..44, 70) pass; a control-direction
 * type passes only as the station's answer to one the master sent through this connection: a
 * confirmation (7, 9), a termination (10) or a refusal (44..47) of the same type and common
 * address (any common address when the master's was the broadcast 0xFFFF); file transfer (13,
 * and 5 for a directory) likewise; parameters (110..113) also as
 * answers to an interrogation (causes 20..36) of that common address. Anything else answers
 * nothing the gateway let through and is refused. Per connection, bounded: the oldest sent
 * (type, CA) is forgotten first.
 */
import type { Asdu } from './asdu';
import { typeClass } from './classes';
import { Cause, TypeId, typeName } from './type-ids';

const MAX_SENT = 256;
const BROADCAST = 0xffff;

export class Iec104StationCheck {
  /** (type id << 16 | CA) of control-direction ASDUs forwarded to the station. */
  private readonly sent = new Set<number>();

  /** Records a control-direction ASDU the master sent and the proxy forwarded. */
  forwarded(a: Asdu): void {
    const key = (a.typeId << 16) | a.ca;
    this.sent.delete(key);
    if (this.sent.size >= MAX_SENT) this.sent.delete(this.sent.values().next().value as number);
    this.sent.add(key);
  }

  /** Null when the station may send `a` to the master, else why not (the ASDU is dropped). */
  problem(a: Asdu): string | null {
    const cls = typeClass(a.typeId);
    if (cls === 'monitor') return null;
    const c = a.cause;
    const answer = c === Cause.ACTIVATION_CON || c === Cause.DEACTIVATION_CON || c === Cause.ACTIVATION_TERM
      || (c >= Cause.UNKNOWN_TYPE && c <= Cause.UNKNOWN_IOA)
      || (cls === 'file-transfer' && (c === Cause.FILE || c === Cause.REQUEST));
    if (answer && (this.sent.has((a.typeId << 16) | a.ca) || this.sent.has((a.typeId << 16) | BROADCAST))) return null;
    if (cls === 'parameter' && c >= Cause.INTERROGATED_STATION && c <= Cause.INTERROGATED_STATION + 16 && this.sent.has((TypeId.C_IC_NA_1 << 16) | a.ca)) return null;
    return `${typeName(a.typeId)} cause ${c} CA ${a.ca} from the station answers nothing the master sent through the gateway: dropped`;
  }
}
