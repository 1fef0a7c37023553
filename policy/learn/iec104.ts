/**
 * IEC 104 in replay and learning. The driver records each ASDU a master sends as the audit
 * `iec104` field (drivers/iec104/audit-fields.ts): type, cause, common address, the IOAs (at most
 * 64 listed, `count` says how many there were) and the values and S/E bits of commands. Replay
 * rebuilds the operation the decider saw and decides it again through the same hot path; an ASDU
 * whose IOAs were not all listed is not replayed (its other objects are unknown). The record
 * does not say whether an execute matched a select: replay takes it as selected, and the
 * driver's `select-required` refusals are not the policy's answer (replay.ts skips them).
 * Learning gathers per source and asset the types, common addresses, IOAs (merged within the
 * slack; station-wide types carry IOA 0 and are not counted) and the set-point values seen.
 * Records of what the station sent (`detail.direction: upstream`: denied, or relayed under a
 * monitor conduit) are re-decided as station data (decideIec104Station) and lend the learnt
 * conduit their common address and IOAs, never a type: a conduit's `ioas` bound both directions.
 */
import type { AddressRange } from '../types';
import type { Iec104Allow, Iec104Operation, Iec104RequestSpec } from '../iec104';
import { decideIec104, decideIec104Station, iec104Valid } from '../iec104-decide';
import { stationWide, typeClass } from '../iec104-classes';
import { typeName } from '../iec104-types';
import { mergeWithin } from '../ranges';
import { boundaryProbes, type LearntBlock, type Observation, type OperationLearner, type ProtocolHandler } from './observed';

/** The audit record's `iec104` field, as far as replay and learning read it. */
export interface Iec104Fields {
  type: number;
  cause: number;
  ca: number;
  count: number;
  ioa: number[];
  values?: (number | null)[];
  select?: boolean[];
}

function fieldsOf(obs: Observation): Iec104Fields | undefined {
  const d = obs.iec104 as Iec104Fields | undefined;
  if (d === undefined || typeof d.type !== 'number' || typeof d.cause !== 'number' || typeof d.ca !== 'number' || !Array.isArray(d.ioa)) return undefined;
  return d;
}

/** Whether the record is of an ASDU the station sent (drivers/iec104/connection.ts). */
const fromStation = (obs: Observation): boolean => obs.detail?.direction === 'upstream';

/** The operation the decider saw, or undefined when the record lists fewer IOAs than the ASDU had. */
export function iec104OperationOf(d: Iec104Fields): Iec104Operation | undefined {
  if (d.count !== d.ioa.length) return undefined;
  return {
    typeId: d.type, cause: d.cause, ca: d.ca, count: d.count, ioa: d.ioa,
    value: d.ioa.map((_, i) => d.values?.[i] ?? NaN), select: d.ioa.map((_, i) => (d.select?.[i] === true ? 1 : 0)), selected: true,
  };
}

class Iec104Learner implements OperationLearner {
  private readonly types = new Set<number>();
  private readonly cas = new Set<number>();
  private readonly ioas: AddressRange[] = [];
  private vmin = Infinity;
  private vmax = -Infinity;
  private example: Iec104RequestSpec | null = null;
  private count = 0;
  private connects = 0;

  add(obs: Observation): void {
    const d = fieldsOf(obs);
    if (d === undefined) { this.connects++; return; }
    if (d.count !== d.ioa.length) return; // never learnt
    if (fromStation(obs)) { this.station(d); return; }
    if (!iec104Valid(d.type)) return;
    this.count++;
    this.types.add(d.type);
    this.cas.add(d.ca);
    if (!stationWide(d.type)) for (const i of d.ioa) this.ioas.push({ start: i, end: i });
    if (typeClass(d.type) === 'setpoint') {
      for (const v of d.values ?? []) if (typeof v === 'number') { if (v < this.vmin) this.vmin = v; if (v > this.vmax) this.vmax = v; }
    }
    if (this.example === null) {
      this.example = { type: d.type, cause: d.cause, ca: d.ca, ioas: [...d.ioa] };
      if (d.values?.every((v) => typeof v === 'number')) this.example.values = d.values as number[];
      if (d.select?.some((s) => s)) this.example.select = true;
    }
  }

  /** Station data the master received or would have: its common address and IOAs. */
  private station(d: Iec104Fields): void {
    this.cas.add(d.ca);
    if (!stationWide(d.type) && d.type !== 70) for (const i of d.ioa) this.ioas.push({ start: i, end: i });
  }

  blocks(slack: number): LearntBlock[] {
    if (this.types.size === 0) return [{ suffix: 'iec104', fields: { iec104: { types: [100] } }, example: { protocol: 'iec104' }, probes: [], count: this.connects }];
    const allow: Iec104Allow = { types: [...this.types].sort((a, b) => a - b), commonAddresses: [...this.cas].sort((a, b) => a - b) };
    if (this.ioas.length) allow.ioas = mergeWithin(this.ioas, slack);
    if (this.vmin <= this.vmax) allow.values = { min: this.vmin, max: this.vmax };
    // Boundary probes: an IOA just outside the learnt ranges, by a type that addresses points.
    const probes: Record<string, unknown>[] = [];
    const pointType = allow.types.find((t) => !stationWide(t));
    if (allow.ioas && pointType !== undefined) {
      for (const ioa of boundaryProbes(allow.ioas, 0xffffff)) {
        probes.push({ iec104: { type: pointType, ca: allow.commonAddresses?.[0] ?? 1, ioas: [ioa], ...(allow.values ? { values: [allow.values.min] } : {}) } });
      }
    }
    return [{ suffix: 'iec104', fields: { iec104: allow }, example: this.example === null ? { protocol: 'iec104' } : { iec104: this.example }, probes, count: this.count }];
  }
}

export const iec104Handler: ProtocolHandler = {
  recordProtocol: 'iec104',
  policyProtocol: 'iec104',
  isOperation: (obs) => fieldsOf(obs) !== undefined,
  decideOperation(scope, obs, at) {
    const d = fieldsOf(obs);
    const op = d === undefined ? undefined : iec104OperationOf(d);
    if (op === undefined) return null;
    return fromStation(obs) ? decideIec104Station(scope, op, at) : decideIec104(scope, op, at);
  },
  describe(obs) {
    const d = fieldsOf(obs);
    if (d === undefined) return 'connect';
    const ioas = d.ioa.slice(0, 8).join(',') + (d.count > 8 ? ',…' : '');
    const vals = d.values?.length ? ` values ${d.values.slice(0, 8).join(',')}` : '';
    return `${typeName(d.type)} cause ${d.cause} ca ${d.ca} ioa ${ioas}${vals}${d.select?.some((s) => s) ? ' select' : ''}`;
  },
  newLearner: () => new Iec104Learner(),
};
