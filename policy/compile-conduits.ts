/**
 * The conduit half of the compiler (compile.ts): per conduit, in document order, its flags and
 * schedule, its `from` as integer lists, its Modbus `allow` as a function bitset, a unit set and
 * merged register ranges, and its place in the candidate lists by destination (asset or zone →
 * protocol → port). The lists only ever gain the conduit being added, deduplicated against their
 * last entry, so every list is sorted and without duplicates.
 */
import type { AddressRange, Conduit, ModbusAllow } from './types';
import { weekdayMask } from './schedule';
import { ValueTablesBuilder } from './values';
import { CsrBuilder, N_PROTO, PROTOCOLS, type IndexTables } from './index-tables';

/** What the conduit pass reads of the earlier passes (identities, zones, assets). */
export interface ConduitContext {
  readonly identityIndex: ReadonlyMap<string, number>;
  readonly assetIndex: ReadonlyMap<string, number>;
  readonly zoneIndex: ReadonlyMap<string, number>;
  /** Role name → number, numbering a new role on first sight. */
  role(name: string): number;
  readonly assetsInZone: readonly (readonly number[])[];
  /** Service ports per asset and protocol (asset * N_PROTO + proto). */
  readonly assetPorts: readonly (readonly number[])[];
}

/** The per-conduit tables of the index. */
export type ConduitTables = Pick<IndexTables,
  'fromIdentities' | 'fromRoles' | 'fromZones' | 'cProto' | 'cMonitor' | 'cEdgeAuth' | 'cGrant' | 'cSchedTz' | 'cSchedDays' |
  'cSchedFrom' | 'cSchedTo' | 'cAllowAll' | 'cFunctions' | 'cUnits' | 'cAnyAddress' | 'cRangeOff' | 'values' | 'rangeStart' | 'rangeEnd'>;

/** The candidate lists of the index, and how many port lists there are. */
export type CandidateTables = Pick<IndexTables, 'byAsset' | 'byAssetAny' | 'byZone' | 'byZoneAny'> & { lists: number };

type PortLists = Map<number, number[]>;

function pushLast(list: number[], c: number): void {
  if (list[list.length - 1] !== c) list.push(c);
}

function addPorts(maps: (PortLists | undefined)[], key: number, ports: readonly number[], c: number): void {
  let m = maps[key];
  if (!m) { m = new Map(); maps[key] = m; }
  for (const p of ports) {
    const list = m.get(p);
    if (!list) m.set(p, [c]); else pushLast(list, c);
  }
}

function addAny(lists: (number[] | undefined)[], key: number, c: number): void {
  const l = lists[key];
  if (!l) lists[key] = [c]; else pushLast(l, c);
}

/** How many address ranges the conduits list: ConduitTablesBuilder's room for their merged ranges. */
export function rangeCapacity(conduits: readonly Conduit[]): number {
  let n = 0;
  for (const c of conduits) n += c.allow?.addresses?.length ?? 0;
  return n;
}

/** Builds the conduit tables and candidate lists; add() every conduit in document order. */
export class ConduitTablesBuilder {
  private readonly cProto: Uint8Array;
  private readonly cMonitor: Uint8Array;
  private readonly cEdgeAuth: Uint8Array;
  private readonly cGrant: Uint8Array;
  private readonly cSchedTz: Int32Array;
  private readonly cSchedDays: Uint8Array;
  private readonly cSchedFrom: Int32Array;
  private readonly cSchedTo: Int32Array;
  private readonly cAllowAll: Uint8Array;
  private readonly cFunctions: Uint32Array;
  private readonly cUnits: (Uint8Array | null)[] = [];
  private readonly unitSets = new Map<string, Uint8Array>();
  private readonly cAnyAddress: Uint8Array;
  private readonly cRangeOff: Int32Array;
  private readonly valueTables: ValueTablesBuilder;
  /**
   * Merged register ranges of every conduit, rangeStart/End's data: written in place up to
   * `nRanges`, sized once for the conduits' listed ranges (merging only ever removes some). Arrays
   * grown by push held 300,000 ranges of a 10,000-conduit learn as doubles, and each growth past
   * 128 KiB went to V8's large-object space: 16 MiB of garbage per compile, only freed by a full
   * collection (policy learn's peak RSS).
   */
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private nRanges = 0;
  private readonly fromIdentities = new CsrBuilder();
  private readonly fromRoles = new CsrBuilder();
  private readonly fromZones = new CsrBuilder();
  private readonly tzIndex = new Map<string, number>();
  private readonly byAssetMaps: (PortLists | undefined)[];
  private readonly byAssetAnyLists: (number[] | undefined)[];
  private readonly byZoneMaps: (PortLists | undefined)[];
  private readonly byZoneAnyLists: (number[] | undefined)[];
  /** The schedules' time zones, numbered in order of first use (cSchedTz). */
  readonly tzs: string[] = [];

  /** `maxRanges`: at least the number of address ranges the conduits list (rangeCapacity). */
  constructor(nC: number, nA: number, nZ: number, private readonly ctx: ConduitContext, maxRanges: number) {
    this.cProto = new Uint8Array(nC);
    this.cMonitor = new Uint8Array(nC);
    this.cEdgeAuth = new Uint8Array(nC);
    this.cGrant = new Uint8Array(nC);
    this.cSchedTz = new Int32Array(nC).fill(-1);
    this.cSchedDays = new Uint8Array(nC);
    this.cSchedFrom = new Int32Array(nC);
    this.cSchedTo = new Int32Array(nC);
    this.cAllowAll = new Uint8Array(nC);
    this.cFunctions = new Uint32Array(nC * 8);
    this.cAnyAddress = new Uint8Array(nC);
    this.cRangeOff = new Int32Array(nC + 1);
    this.starts = new Int32Array(maxRanges);
    this.ends = new Int32Array(maxRanges);
    this.valueTables = new ValueTablesBuilder(nC);
    this.byAssetMaps = new Array(nA * N_PROTO);
    this.byAssetAnyLists = new Array(nA * N_PROTO);
    this.byZoneMaps = new Array(nZ * N_PROTO);
    this.byZoneAnyLists = new Array(nZ * N_PROTO);
  }

  /** Adds conduit number `c`; TypeError for a protocol validation should have refused. */
  add(c: number, cd: Conduit): void {
    const proto = PROTOCOLS.indexOf(cd.protocol);
    if (proto < 0) throw new TypeError(`conduit ${cd.id}: unknown protocol ${cd.protocol}`);
    this.cProto[c] = proto;
    this.cMonitor[c] = cd.mode === 'monitor' ? 1 : 0;
    this.cEdgeAuth[c] = cd.requires.edgeAuth ? 1 : 0;
    this.cGrant[c] = cd.requires.grant ? 1 : 0;
    if (cd.schedule) {
      let tz = this.tzIndex.get(cd.schedule.tz);
      if (tz === undefined) { tz = this.tzs.length; this.tzs.push(cd.schedule.tz); this.tzIndex.set(cd.schedule.tz, tz); }
      this.cSchedTz[c] = tz;
      this.cSchedDays[c] = weekdayMask(cd.schedule.days);
      this.cSchedFrom[c] = cd.schedule.from;
      this.cSchedTo[c] = cd.schedule.to;
    }
    const { identityIndex, zoneIndex } = this.ctx;
    for (const x of cd.from.identities) this.fromIdentities.add(identityIndex.get(x) ?? -1);
    for (const x of cd.from.roles) this.fromRoles.add(this.ctx.role(x));
    for (const x of cd.from.zones) this.fromZones.add(zoneIndex.get(x) ?? -1);
    this.fromIdentities.endRow(); this.fromRoles.endRow(); this.fromZones.endRow();
    this.addAllow(c, cd.allow);
    this.addDestinations(c, cd, proto);
  }

  private addAllow(c: number, allow: ModbusAllow | undefined): void {
    this.cAllowAll[c] = allow === undefined ? 1 : 0;
    if (allow) {
      const fns = this.cFunctions;
      for (const f of allow.functions) if (f >= 0 && f <= 255) fns[c * 8 + (f >>> 5)] |= 1 << (f & 31);
      // A function allowed only through sub-functions is in the bitset too; values.ts narrows it.
      for (const { fn } of allow.subFunctions ?? []) if (fn >= 0 && fn <= 255) fns[c * 8 + (fn >>> 5)] |= 1 << (fn & 31);
      this.cUnits.push(allow.units === undefined ? null : this.unitSet(allow.units));
      if (allow.addresses === undefined) this.cAnyAddress[c] = 1;
      else this.addRanges(allow.addresses);
    } else {
      this.cUnits.push(null);
      this.cAnyAddress[c] = 1;
    }
    this.cRangeOff[c + 1] = this.nRanges;
    this.valueTables.add(allow);
  }

  // Identical unit lists share one set.
  private unitSet(units: readonly number[]): Uint8Array {
    const key = units.join(',');
    let u = this.unitSets.get(key);
    if (!u) {
      u = new Uint8Array(256);
      for (const x of units) if (x >= 0 && x <= 255) u[x] = 1;
      this.unitSets.set(key, u);
    }
    return u;
  }

  // Sorted and merged here too (validation normally did it), so that "inside one range" means
  // inside one merged interval.
  private addRanges(ranges: readonly AddressRange[]): void {
    const { starts, ends } = this;
    let rs = ranges;
    let sorted = true;
    for (let i = 1; i < rs.length; i++) if (rs[i].start <= rs[i - 1].end + 1) { sorted = false; break; }
    if (!sorted) rs = rs.slice().sort((a, b) => a.start - b.start);
    const first = this.nRanges;
    let n = first;
    for (const r of rs) {
      if (n > first && r.start <= ends[n - 1] + 1) ends[n - 1] = Math.max(ends[n - 1], r.end);
      else { starts[n] = r.start; ends[n] = r.end; n++; }
    }
    this.nRanges = n;
  }

  // Destinations: assets named, plus every asset of the zones named; the zones themselves too.
  private addDestinations(c: number, cd: Conduit, proto: number): void {
    const { assetIndex, zoneIndex, assetsInZone, assetPorts } = this.ctx;
    const assets: number[] = [];
    for (const a of cd.to.assets) { const n = assetIndex.get(a); if (n !== undefined) assets.push(n); }
    const zones: number[] = [];
    for (const z of cd.to.zones) { const n = zoneIndex.get(z); if (n !== undefined) { zones.push(n); for (const a of assetsInZone[n]) assets.push(a); } }
    for (const a of assets.length > 1 ? new Set(assets) : assets) {
      const key = a * N_PROTO + proto;
      addAny(this.byAssetAnyLists, key, c);
      addPorts(this.byAssetMaps, key, cd.ports ?? assetPorts[key], c);
    }
    for (const z of zones.length > 1 ? new Set(zones) : zones) {
      const key = z * N_PROTO + proto;
      addAny(this.byZoneAnyLists, key, c);
      if (cd.ports) addPorts(this.byZoneMaps, key, cd.ports, c);
    }
  }

  /** The per-conduit tables, once every conduit was added. */
  tables(): ConduitTables {
    return {
      fromIdentities: this.fromIdentities.build(), fromRoles: this.fromRoles.build(), fromZones: this.fromZones.build(),
      cProto: this.cProto, cMonitor: this.cMonitor, cEdgeAuth: this.cEdgeAuth, cGrant: this.cGrant,
      cSchedTz: this.cSchedTz, cSchedDays: this.cSchedDays, cSchedFrom: this.cSchedFrom, cSchedTo: this.cSchedTo,
      cAllowAll: this.cAllowAll, cFunctions: this.cFunctions, cUnits: this.cUnits, cAnyAddress: this.cAnyAddress,
      cRangeOff: this.cRangeOff, values: this.valueTables.build(),
      rangeStart: this.exact(this.starts), rangeEnd: this.exact(this.ends),
    };
  }

  // The ranges written (a copy only when merging left some room).
  private exact(a: Int32Array): Int32Array {
    return a.length === this.nRanges ? a : a.slice(0, this.nRanges);
  }

  /** The candidate lists as typed arrays; yields after every `slice` asset lists. */
  *candidates(slice: number): Generator<void, CandidateTables, void> {
    let lists = 0;
    let work = 0;
    const freeze = (m: PortLists | undefined): Map<number, Int32Array> | undefined => {
      if (!m) return undefined;
      const out = new Map<number, Int32Array>();
      for (const [k, v] of m) { out.set(k, Int32Array.from(v)); lists++; }
      return out;
    };
    const byAsset: (Map<number, Int32Array> | undefined)[] = new Array(this.byAssetMaps.length);
    const byAssetAny: (Int32Array | undefined)[] = new Array(this.byAssetAnyLists.length);
    for (let k = 0; k < this.byAssetMaps.length; k++) {
      byAsset[k] = freeze(this.byAssetMaps[k]);
      const l = this.byAssetAnyLists[k];
      byAssetAny[k] = l ? Int32Array.from(l) : undefined;
      if (l && ++work >= slice) { work = 0; yield; }
    }
    const byZone = Array.from(this.byZoneMaps, freeze);
    const byZoneAny = Array.from(this.byZoneAnyLists, (l) => (l ? Int32Array.from(l) : undefined));
    return { byAsset, byAssetAny, byZone, byZoneAny, lists };
  }
}
