/**
 * The decision classes of IEC 60870-5-104 type ids (issue 17): the policy allows or denies an
 * ASDU by its class first, then by common address, IOA range, cause and values.
 *   monitor 1..44 (and M_EI_NA_1 70, end of initialisation, also monitor direction);
 *   command 45..47, 58..60 (single, double, regulating step); setpoint 48..50, 61..63;
 *   bitstring 51, 64; interrogation 100; counter-interrogation 101; read 102; clock-sync 103;
 *   reset-process 105; test 107; parameter 110..113; file-transfer 120..127.
 * A type id 104 does not define (type-ids.ts) has no class: it is refused as unknown (cause 44).
 *
 * The causes a controlling station sends with each class in control direction (IEC 60870-5-101
 * section 7.3.2..7.3.6 and IEC 60870-5-104 section 7.2.3; the same set a station such as
 * lib60870's accepts before answering cause 45): activation 6 and deactivation 8 for commands,
 * set-points, bitstrings, interrogations and parameter activation; activation only for clock
 * synchronisation, reset process, test and parameter loading; request 5 for read; file transfer
 * 13, and 5 for a directory call. Anything else from the master is an unknown cause (45).
 */
import { typeKnown } from './iec104-types';

export type Iec104Class =
  | 'monitor' | 'command' | 'setpoint' | 'bitstring' | 'interrogation' | 'counter-interrogation' | 'read'
  | 'clock-sync' | 'reset-process' | 'test' | 'parameter' | 'file-transfer';

// [first type id, last type id, class]
const RANGES: ReadonlyArray<readonly [number, number, Iec104Class]> = [
  [1, 44, 'monitor'], [70, 70, 'monitor'],
  [45, 47, 'command'], [58, 60, 'command'],
  [48, 50, 'setpoint'], [61, 63, 'setpoint'],
  [51, 51, 'bitstring'], [64, 64, 'bitstring'],
  [100, 100, 'interrogation'], [101, 101, 'counter-interrogation'], [102, 102, 'read'], [103, 103, 'clock-sync'],
  [105, 105, 'reset-process'], [107, 107, 'test'],
  [110, 113, 'parameter'], [120, 127, 'file-transfer'],
];

/** Every class, in the order above (for policy validation and the report). */
export const IEC104_CLASSES: readonly Iec104Class[] = Object.freeze([...new Set(RANGES.map((r) => r[2]))]);

const CONTROL_CAUSES: Readonly<Record<Iec104Class, readonly number[]>> = Object.freeze({
  monitor: [], command: [6, 8], setpoint: [6, 8], bitstring: [6, 8], interrogation: [6, 8], 'counter-interrogation': [6, 8],
  read: [5], 'clock-sync': [6], 'reset-process': [6], test: [6], parameter: [6], 'file-transfer': [5, 13],
});

const byType: (Iec104Class | undefined)[] = new Array<Iec104Class | undefined>(256).fill(undefined);
for (const [a, b, c] of RANGES) for (let t = a; t <= b; t++) if (typeKnown(t)) byType[t] = c;

/** The class of a type id, or undefined for a type 104 does not define. */
export function typeClass(typeId: number): Iec104Class | undefined {
  return typeId === (typeId & 0xff) ? byType[typeId] : undefined;
}

/** Whether ASDUs of the type go in control direction (master to station): every class but monitor. */
export function controlDirection(typeId: number): boolean {
  const c = typeClass(typeId);
  return c !== undefined && c !== 'monitor';
}

/** Whether the type carries a CP56Time2a time tag in control direction (58..64, 107). */
export function timeTaggedCommand(typeId: number): boolean {
  return (typeId >= 58 && typeId <= 64) || typeId === 107;
}

/** Whether the type is a select-before-operate command (its elements carry S/E: SCO, DCO, RCO, QOS). */
export function selectable(typeId: number): boolean {
  const c = typeClass(typeId);
  return c === 'command' || c === 'setpoint';
}

/**
 * Whether a controlling station may send the type with this cause (bits 5..0 of the COT). Monitor
 * types never come from the master; P_AC_NA_1 (113) also takes deactivation (8).
 */
export function controlCauseAllowed(typeId: number, cause: number): boolean {
  const c = typeClass(typeId);
  if (c === undefined) return false;
  if (typeId === 113 && cause === 8) return true;
  return CONTROL_CAUSES[c].includes(cause);
}

/**
 * Whether the type addresses the whole station and so carries IOA 0 (interrogation 100, counter
 * interrogation 101, clock sync 103, reset process 105, test 107; IEC 60870-5-101 7.3.4): another
 * IOA is answered cause 47, unknown IOA, as stations do.
 */
export function stationWide(typeId: number): boolean {
  return typeId === 100 || typeId === 101 || typeId === 103 || typeId === 105 || typeId === 107;
}
