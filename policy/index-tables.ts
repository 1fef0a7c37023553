/**
 * The shape of a compiled policy (compile.ts builds it, decide.ts, decider.ts, staged-decide.ts and
 * explain.ts read it): protocols and deny reasons as integers, the index's tables, and the packed
 * integer lists (Csr) they use.
 */
import type { Conduit, PolicyDocument, Protocol, Decision } from './types';
import { DENY_REASONS } from './types';
import type { Cidr } from './net';
import type { ZoneClock } from './schedule';
import type { Dnp3Rules, Iec104Rules } from './protocol-rules';
import type { ValueTables } from './values';

/** Protocols as integers: the index of each in this list. */
export const PROTOCOLS: readonly Protocol[] = ['modbus', 'tcp', 'dnp3', 'iec104'];
export const PROTO_MODBUS = 0;
export const PROTO_TCP = 1;
export const PROTO_DNP3 = 2;
export const PROTO_IEC104 = 3;
/** Per-destination tables are indexed destination * N_PROTO + protocol. */
export const N_PROTO = PROTOCOLS.length;

/** Deny reasons as integers: their index in DENY_REASONS. */
export const R_NO_CONDUIT = DENY_REASONS.indexOf('no-conduit');
export const R_FUNCTION = DENY_REASONS.indexOf('function-not-allowed');
export const R_UNIT = DENY_REASONS.indexOf('unit-not-allowed');
export const R_ADDRESS = DENY_REASONS.indexOf('address-out-of-range');
export const R_VALUE = DENY_REASONS.indexOf('value-out-of-range');
export const R_PORT = DENY_REASONS.indexOf('port-not-allowed');
export const R_SCHEDULE = DENY_REASONS.indexOf('outside-schedule');
export const R_EDGE_AUTH = DENY_REASONS.indexOf('edge-auth-required');
export const R_GRANT = DENY_REASONS.indexOf('grant-required');
export const R_QUARANTINED = DENY_REASONS.indexOf('quarantined');
export const R_MALFORMED = DENY_REASONS.indexOf('malformed');
export const R_UNKNOWN_DEST = DENY_REASONS.indexOf('unknown-destination');
export const R_NO_POLICY = DENY_REASONS.indexOf('no-policy');
/** How many deny reasons there are (decision caches are sized by it). */
export const N_REASONS = DENY_REASONS.length;

/** The frozen decisions of one source identity, made on first use and shared by every scope. */
export interface DecisionCache {
  readonly identity: string | null;
  /** By conduit number. */
  readonly allow: Map<number, Decision>;
  readonly deny: (Decision | undefined)[];
  /** By conduit * N_REASONS + reason. */
  readonly monitor: Map<number, Decision>;
}

/** Internal tables of the index; read by decide.ts, decider.ts and explain.ts only. */
export interface IndexTables {
  readonly identityIndex: ReadonlyMap<string, number>;
  readonly assetIndex: ReadonlyMap<string, number>;
  readonly zoneIndex: ReadonlyMap<string, number>;
  readonly conduitIndex: ReadonlyMap<string, number>;
  /** Per identity: its zone number or -1, its role numbers, whether quarantined. */
  readonly identityZone: Int32Array;
  readonly identityRoles: Csr;
  readonly identityQuarantined: Uint8Array;
  /** Per asset: zone number or -1, whether quarantined, service ports per protocol (asset * N_PROTO + proto). */
  readonly assetZone: Int32Array;
  readonly assetQuarantined: Uint8Array;
  readonly assetPorts: readonly number[][];
  /** Exact source/destination addresses → identity / asset number (first in document order). */
  readonly v4Identity: ReadonlyMap<number, number>;
  readonly v6Identity: ReadonlyMap<string, number>;
  readonly v4Asset: ReadonlyMap<number, number>;
  readonly v6Asset: ReadonlyMap<string, number>;
  /** Zone networks, IPv4: disjoint sorted intervals with the most specific zone of each. */
  readonly zoneV4Start: Float64Array;
  readonly zoneV4End: Float64Array;
  readonly zoneV4Zone: Int32Array;
  /** Zone networks, IPv6: longest prefix first (ties in document order). */
  readonly zoneV6: readonly { cidr: Cidr; zone: number }[];
  /** Candidates by destination: (asset * N_PROTO + proto) → port → conduits; `Any` ignores the port. */
  readonly byAsset: readonly (Map<number, Int32Array> | undefined)[];
  readonly byAssetAny: readonly (Int32Array | undefined)[];
  /** Candidates for addresses only in a zone: (zone * N_PROTO + proto) → port → conduits. */
  readonly byZone: readonly (Map<number, Int32Array> | undefined)[];
  readonly byZoneAny: readonly (Int32Array | undefined)[];
  /** Per conduit `from`: identity, role and zone numbers. */
  readonly fromIdentities: Csr;
  readonly fromRoles: Csr;
  readonly fromZones: Csr;
  /** Per conduit: protocol, monitor mode, requires edge auth / grant. */
  readonly cProto: Uint8Array;
  readonly cMonitor: Uint8Array;
  readonly cEdgeAuth: Uint8Array;
  readonly cGrant: Uint8Array;
  /** Per conduit schedule: time-zone number in `clock` or -1 for none, weekday mask, from, to. */
  readonly cSchedTz: Int32Array;
  readonly cSchedDays: Uint8Array;
  readonly cSchedFrom: Int32Array;
  readonly cSchedTo: Int32Array;
  /** 1 when a modbus conduit has no `allow` (every well-formed operation). */
  readonly cAllowAll: Uint8Array;
  /** Function bitsets, 8 words per conduit. */
  readonly cFunctions: Uint32Array;
  /** Allowed unit ids per conduit, or null for any (identical sets are shared). */
  readonly cUnits: readonly (Uint8Array | null)[];
  /** 1 when any address is allowed; otherwise ranges rangeStart/End[cRangeOff[c] .. cRangeOff[c+1]). */
  readonly cAnyAddress: Uint8Array;
  readonly cRangeOff: Int32Array;
  /** Per conduit: write bounds (allow.values, allow.coils) and sub-functions allowed one by one. */
  readonly values: ValueTables;
  readonly rangeStart: Int32Array;
  readonly rangeEnd: Int32Array;
  /** Local clocks of the schedules' time zones, cached per UTC minute. */
  readonly clock: ZoneClock;
  /** Per conduit: compiled DNP3 rules, null for other protocols or no `allow` (dnp3-decide.ts). */
  readonly dnp3: readonly (Dnp3Rules | null)[];
  /** Per conduit: compiled IEC 104 rules, null for other protocols or no `allow` (iec104-decide.ts). */
  readonly iec104: readonly (Iec104Rules | null)[];
  /** Decision objects by source identity number + 1 (0 = no identity), made lazily. */
  readonly decisions: (DecisionCache | undefined)[];
}

/** A compiled policy. Immutable apart from its internal caches. */
export interface PolicyIndex {
  /** The policy version that decisions are tagged with. */
  readonly version: string;
  readonly doc: PolicyDocument;
  readonly site: string;
  readonly counts: { readonly zones: number; readonly assets: number; readonly identities: number; readonly conduits: number; readonly candidateLists: number };
  /** Conduits in document order; a conduit's number is its position here. */
  readonly conduits: readonly Conduit[];
  readonly conduitById: ReadonlyMap<string, Conduit>;
  readonly t: IndexTables;
}

/** Options of compile(). */
export interface CompileOptions {
  /** The policy version (a bundle's version); default "unversioned". */
  version?: string;
}

/** The conduit with this id, for drivers (rateLimit, mode) and the nftables renderer. */
export function conduitOf(index: PolicyIndex, id: string): Conduit | undefined {
  return index.conduitById.get(id);
}

/** Lists of integers packed flat: row r is data[off[r] .. off[r + 1]). */
export interface Csr { readonly off: Int32Array; readonly data: Int32Array }

/** Builds a Csr row by row; a value already in the current row is not added again. */
export class CsrBuilder {
  private readonly off: number[] = [0];
  private readonly data: number[] = [];

  add(x: number): void {
    if (x < 0) return;
    for (let i = this.off[this.off.length - 1]; i < this.data.length; i++) if (this.data[i] === x) return;
    this.data.push(x);
  }

  endRow(): void {
    this.off.push(this.data.length);
  }

  build(): Csr {
    return { off: Int32Array.from(this.off), data: Int32Array.from(this.data) };
  }
}

/** Whether row `r` of `m` holds `x`. */
export function csrHas(m: Csr, r: number, x: number): boolean {
  const d = m.data;
  for (let i = m.off[r], e = m.off[r + 1]; i < e; i++) if (d[i] === x) return true;
  return false;
}
