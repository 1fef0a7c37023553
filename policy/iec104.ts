/**
 * IEC 60870-5-104 in the policy (issue 17): the normalised `allow` block of a `protocol: iec104`
 * conduit, the operation the driver hands the decider (one ASDU in control direction), and the
 * request a person writes for `policy explain` and a policy's `tests:`. The type table and the
 * decision classes are iec104-types.ts and iec104-classes.ts; the names here are the policy's
 * public format.
 */
import type { AddressRange } from './address-range';
import { Cause } from './iec104-types';

/** Causes a master sends, by the names a policy uses (IEC 60870-5-101 section 7.2.3). */
export const IEC104_CAUSES: Readonly<Record<string, number>> = Object.freeze(Object.assign(Object.create(null) as Record<string, number>, {
  request: Cause.REQUEST, activation: Cause.ACTIVATION, deactivation: Cause.DEACTIVATION, file: Cause.FILE,
}));

/** The highest information object address (3 bytes). */
export const IEC104_IOA_MAX = 0xffffff;

/** The normalised `allow` of a `protocol: iec104` conduit (iec104-allow.ts reads the document form). */
export interface Iec104Allow {
  /** Type ids the master may send (classes and names resolved), sorted. */
  types: number[];
  /** Common addresses (stations) it may reach; undefined = any. */
  commonAddresses?: number[];
  /** Information object addresses, sorted and merged; undefined = any. Station-wide types (IOA 0) are not held to them. */
  ioas?: AddressRange[];
  /** Causes of transmission allowed; undefined = the causes IEC 104 gives each type (iec104-classes.ts). */
  causes?: number[];
  /** Set-point values (48..50, 61..63) allowed, inclusive; NaN never passes. */
  values?: { min: number; max: number };
  /** Commands and set-points executed (S/E = 0, cause 6) only after a matching select by the same identity. */
  selectBeforeExecute?: boolean;
}

/**
 * One ASDU as the driver hands it to the decider (drivers/iec104/asdu.ts Asdu fills it): type,
 * cause, common address, and per object (count of them) its IOA, commanded value and S/E bit.
 * `selected`: the driver's answer to whether this execute matches live selects of the same
 * identity for every object (drivers/iec104/select-store.ts); the decider only reads it.
 */
export interface Iec104Operation {
  readonly typeId: number;
  readonly cause: number;
  readonly ca: number;
  readonly count: number;
  readonly ioa: ArrayLike<number>;
  readonly value: ArrayLike<number>;
  readonly select: ArrayLike<number>;
  readonly selected: boolean;
}

/** An IEC 104 ASDU as a person writes it (`policy explain --request`, a policy's `tests:`). */
export interface Iec104RequestSpec {
  /** Type id (names and ids resolved). */
  type: number;
  /** Default: the first cause the type takes (activation for commands). */
  cause?: number;
  /** Common address, default 1. */
  ca?: number;
  /** IOAs of the objects, default [0]. */
  ioas?: number[];
  /** Commanded value per object (or one for all). */
  values?: number[];
  /** A select (S/E = 1); default false (an execute). */
  select?: boolean;
  /** Whether the same identity selected the objects before (for selectBeforeExecute). */
  selected?: boolean;
}
