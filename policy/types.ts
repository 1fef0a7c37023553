/**
 * The policy model: the public document format (field names are a published contract: extend,
 * never rename), the decision request a CLI user or a policy test writes, and the decision.
 * Plain data only; the compiled index lives in compile.ts.
 */

import type { Dnp3Allow, Dnp3Operation, Dnp3RequestSpec } from './dnp3';
import type { Iec104Allow, Iec104Operation, Iec104RequestSpec } from './iec104';
import type { AddressRange } from './address-range';

export type Protocol = 'modbus' | 'tcp' | 'dnp3' | 'iec104';
export type IdentityKind = 'device' | 'user' | 'service' | 'vendor';
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface Zone {
  id: string;
  /** IPv4 and IPv6 CIDRs, normalised (host bits zero). */
  networks: string[];
  interfaces: string[];
  /** IEC 62443 security level 0..4. */
  securityLevel: number;
  description?: string;
}

export interface Service {
  protocol: Protocol;
  port: number;
  name?: string;
}

export interface Asset {
  id: string;
  zone: string;
  /** The design's sketch writes one `address`; more may be listed in `addresses`. Merged here. */
  addresses: string[];
  kind: string;
  services: Service[];
  description?: string;
}

export interface Identity {
  id: string;
  kind: IdentityKind;
  zone?: string;
  /** Devices and services bind to source addresses; people authenticate at the edge. */
  addresses: string[];
  roles: string[];
  description?: string;
}

/** An inclusive register/coil address interval, 0..65535. */
export type { AddressRange } from './address-range';

export interface ModbusAllow {
  /** Function codes (names in the document are resolved through modbus.ts). Empty = none. */
  functions: number[];
  /** Unit ids 0..255; undefined = any unit. */
  units?: number[];
  /** Undefined = any address. */
  addresses?: AddressRange[];
  /**
   * Sub-functions allowed one by one (FC 8 diagnostics, FC 43 MEI types), for functions not in
   * `functions`: `diagnostics/return-query-data` allows FC 8 sub-function 0 and nothing else of FC 8.
   */
  subFunctions?: { fn: number; sub: number }[];
  /** Write bounds per register range (allow.values); registers without a rule take any value. */
  values?: ValueRule[];
  /** The states a write may set per coil range (allow.coils); coils without a rule take either. */
  coils?: CoilRule[];
}

/** How a register range's words are read: 16-bit, or 32-bit pairs (two registers) in a word order. */
export type ValueType = 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32';

/**
 * The values writes to registers start..end may carry: min..max inclusive, read as `type`. 32-bit
 * types cover pairs (start, start+1), ...; `order: big` has the high word in the first register.
 */
export interface ValueRule { start: number; end: number; type: ValueType; order: 'big' | 'little'; min: number; max: number }

/** The states a write may set on coils start..end. */
export interface CoilRule { start: number; end: number; on: boolean; off: boolean }

export interface Schedule {
  days: Weekday[];
  /** Minutes after local midnight. `from > to` crosses midnight. */
  from: number;
  to: number;
  /** IANA time zone, e.g. America/Chicago. Default UTC. */
  tz: string;
}

export interface Conduit {
  id: string;
  from: { identities: string[]; roles: string[]; zones: string[] };
  to: { assets: string[]; zones: string[] };
  protocol: Protocol;
  /** TCP destination ports; undefined = the asset services' ports of this protocol. */
  ports?: number[];
  /**
   * Modbus operations allowed; undefined on a modbus conduit = every well-formed request (the
   * document must say `allow: all` for that: validation refuses a modbus conduit without allow).
   */
  allow?: ModbusAllow;
  /** DNP3 operations allowed (a dnp3 conduit's `allow`); undefined on a dnp3 conduit = every well-formed request. */
  dnp3?: Dnp3Allow;
  /** IEC 104 ASDUs allowed (an iec104 conduit's `allow`); undefined on an iec104 conduit = every well-formed ASDU. */
  iec104?: Iec104Allow;
  requires: { edgeAuth: boolean; grant: boolean };
  schedule?: Schedule;
  /** `monitor`: allow, but record what would have been denied (commissioning). */
  mode: 'enforce' | 'monitor';
  /** Per-conduit request rate limit (per connection source), requests per second with a burst. */
  rateLimit?: { perSecond: number; burst: number };
  /** Per-conduit rate limit of writes alone (per connection source), on top of rateLimit. */
  writeRateLimit?: { perSecond: number; burst: number };
  description?: string;
}

export interface Settings {
  /** What the gateway does when the active bundle expires while offline. */
  onExpiry: 'keep-enforcing' | 'deny-all';
}

export interface PolicyTest {
  name?: string;
  request: DecisionRequest;
  expect: 'allow' | 'deny';
  /** Optionally the conduit (for allow) or the reason (for deny) that must be given. */
  conduit?: string;
  reason?: DenyReason;
}

/** A validated policy document. */
export interface PolicyDocument {
  site: string;
  zones: Zone[];
  assets: Asset[];
  identities: Identity[];
  conduits: Conduit[];
  /** Identity or asset ids cut off from everything. */
  quarantine: string[];
  settings: Settings;
  tests: PolicyTest[];
}

export type DenyReason =
  | 'no-conduit'
  | 'function-not-allowed'
  | 'unit-not-allowed'
  | 'address-out-of-range'
  | 'value-out-of-range'
  | 'port-not-allowed'
  | 'outside-schedule'
  | 'edge-auth-required'
  | 'grant-required'
  | 'quarantined'
  | 'malformed'
  | 'rate-limited'
  | 'unknown-destination'
  | 'no-policy'
  | 'policy-expired'
  // DNP3 (policy/dnp3-decide.ts); value-out-of-range above is shared with Modbus write bounds
  | 'object-not-allowed'
  | 'select-required'
  // IEC 104 (policy/iec104-decide.ts)
  | 'cause-not-allowed';

export const DENY_REASONS: readonly DenyReason[] = [
  'no-conduit', 'function-not-allowed', 'unit-not-allowed', 'address-out-of-range', 'value-out-of-range', 'port-not-allowed',
  'outside-schedule', 'edge-auth-required', 'grant-required', 'quarantined', 'malformed', 'rate-limited',
  'unknown-destination', 'no-policy', 'policy-expired',
  'object-not-allowed', 'select-required', 'cause-not-allowed',
];

/**
 * A request as a person writes it (CLI `--request`, a policy's `tests:`):
 * `{ from: "hmi-1" | { ip }, to: "plc-feeder-1" | { ip, port }, protocol, modbus: { function, unit,
 * address, count }, at, session: { edgeAuth, grant } }`.
 */
export interface DecisionRequest {
  from: string | { ip: string };
  to: string | { ip: string; port?: number };
  protocol?: Protocol;
  /** Destination port when `to` names an asset with several services. */
  port?: number;
  modbus?: {
    function: number | string; unit?: number; address?: number; count?: number;
    /** FC 23 (read-write multiple registers): the write range; `address`/`count` are the read range. */
    writeAddress?: number; writeCount?: number;
    /** FC 8 sub-function / FC 43 MEI type: a code or a name (`return-query-data`). */
    subFunction?: number | string;
    /** What a write carries: register words 0..65535, coil states 0/1, FC 22 [andMask, orMask]. */
    values?: number[];
  };
  /** A DNP3 request (policy/dnp3-request.ts); says protocol: dnp3. */
  dnp3?: Dnp3RequestSpec;
  /** An IEC 104 ASDU (policy/iec104-request.ts); says protocol: iec104. */
  iec104?: Iec104RequestSpec;
  /** ISO 8601 time or epoch milliseconds; default now. */
  at?: string | number;
  session?: SessionFacts;
}

/**
 * One Modbus request as a driver parsed it (a connection reuses one record). The request PDU
 * (function code first) lies in pdu[pduOffset .. pduOffset + pduLength): the decider reads the
 * sub-function and the values written from it. FC 23: address/count are the read range and
 * writeAddress/writeCount the write range; other functions leave writeCount 0.
 */
export interface ModbusOperation {
  fn: number;
  unit: number;
  address: number;
  count: number;
  writeAddress: number;
  writeCount: number;
  pdu: Uint8Array | null;
  pduOffset: number;
  pduLength: number;
}

/** What the gateway knows about the person behind a source address. */
export interface SessionFacts {
  /** The person authenticated at the edge (console or login page) from this source. */
  edgeAuth?: boolean;
  /** The identity bound to the source by that authentication. */
  identity?: string;
  /** An active signed grant: true for any conduit, or the conduit ids it covers. */
  grant?: boolean | readonly string[];
}

/**
 * Every decision names the conduit that allowed it or the reason it was denied. In monitor mode a
 * request that the conduit would deny is allowed with `monitor: true`, `conduit` and `reason` set.
 */
export interface Decision {
  readonly decision: 'allow' | 'deny';
  readonly conduit: string | null;
  readonly reason: DenyReason | null;
  readonly identity: string | null;
  readonly monitor?: boolean;
}

/** Asked once when a connection is accepted, and again lazily after the policy changed. */
export interface ConnectQuery {
  sourceIp: string;
  /**
   * The source identity when no address tells it: a serial line's master (service modbus-rtu)
   * is the identity its listener names. Takes the place of the identity bound to sourceIp.
   */
  identity?: string;
  /** The asset of the listener the client connected to. */
  asset: string;
  /** The asset service's port. */
  port: number;
  protocol: Protocol;
  session?: SessionFacts;
}

/**
 * A connection's resolved view of the active policy (identity, zone, candidate conduits, all
 * interned as integers). Opaque to drivers: only the decider reads or refreshes it.
 */
export interface Scope {
  /** The policy version whose index resolved this scope; decisions are tagged with it. */
  readonly policyVersion: string;
  /** The identity the source resolved to, if any. */
  readonly identity: string | null;
}

/**
 * What a driver is handed to decide with. Implemented over the active compiled index by the
 * runtime, which swaps indexes on activation: a scope from an older version is re-resolved on
 * its next use. Never throws on untrusted input; malformed requests are denied as `malformed`.
 */
export interface Decider {
  /** May this connection open at all (some conduit to this asset service could apply)? */
  connect(query: ConnectQuery, nowMs: number): { scope: Scope; decision: Decision };
  /**
   * One Modbus request: function code, unit id, first address and quantity (0 where the function
   * has none). For FC 23 `address`/`count` are the read range and `writeAddress`/`writeCount` the
   * write range; FC 23 without them is denied as `malformed`.
   */
  modbus(scope: Scope, fn: number, unit: number, address: number, count: number, nowMs: number, writeAddress?: number, writeCount?: number): Decision;
  /** One DNP3 request (or, with fn 130, an unsolicited response): see policy/dnp3-decide.ts. */
  dnp3?(scope: Scope, op: Dnp3Operation, nowMs: number): Decision;
  /** One control-direction IEC 104 ASDU: see policy/iec104-decide.ts. */
  iec104?(scope: Scope, op: Iec104Operation, nowMs: number): Decision;
  /** Station direction: may this ASDU from the station reach the master (common address, IOAs, schedule, login, grant of the scope's conduits): see policy/iec104-decide.ts decideIec104Station. */
  iec104Station?(scope: Scope, op: Iec104Operation, nowMs: number): Decision;
  /**
   * One Modbus request with its PDU: like modbus(), and the sub-function and the values written
   * are checked too (modbus() knows neither: a conduit that allows only some sub-functions, or
   * bounds the values of the registers written, denies it). Optional for stub deciders; drivers
   * fall back to modbus(), which fails closed on those checks.
   */
  operation?(scope: Scope, op: ModbusOperation, nowMs: number): Decision;
}
