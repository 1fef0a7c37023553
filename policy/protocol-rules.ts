/**
 * The compiled rules of the protocol deciders (dnp3-decide.ts, iec104-decide.ts) as the index
 * holds them (index-tables.ts): types only, so that the index's shape does not depend on the
 * deciders that read it.
 */

/** One dnp3 conduit's `allow`, compiled. */
export interface Dnp3Rules {
  /** 256-bit function bitset (bit 0 confirm always, bit 130 when unsolicited is allowed). */
  readonly fns: Uint32Array;
  readonly masters: ReadonlySet<number> | null;
  readonly outstations: ReadonlySet<number> | null;
  /** Objects as group << 8 | variation (variation 0: any); for every function, or per function code. */
  readonly objects: ReadonlySet<number> | null;
  readonly objectsByFn: ReadonlyMap<number, ReadonlySet<number>> | null;
  /** Per group: sorted disjoint ranges. */
  readonly points: ReadonlyMap<number, { readonly start: Float64Array; readonly end: Float64Array }> | null;
  readonly vmin: number;
  readonly vmax: number;
  /** 256 entries, 1 where a masked CROB control code is allowed; null: any. */
  readonly controls: Uint8Array | null;
}

/** One iec104 conduit's `allow`, compiled. */
export interface Iec104Rules {
  /** 256 entries, 1 where the type id is allowed. */
  readonly types: Uint8Array;
  readonly cas: ReadonlySet<number> | null;
  /** Sorted disjoint IOA ranges; null: any. */
  readonly ioaStart: Float64Array | null;
  readonly ioaEnd: Float64Array;
  /** 64 entries, 1 where the cause is allowed; null: the causes each type takes. */
  readonly causes: Uint8Array | null;
  readonly vmin: number;
  readonly vmax: number;
  readonly sbo: boolean;
}
