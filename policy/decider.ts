/**
 * The Decider that drivers are handed: connect() resolves a connection's scope once, modbus() is
 * the per-request hot path. The runtime swaps the active index with setIndex() on activation
 * without dropping connections; a scope resolved under another index is re-resolved in place on
 * its next use, so every decision is tagged (scope.policyVersion) with the version that made it.
 * With no index every question is denied `no-policy`; while marked expired (settings.onExpiry
 * deny-all, decided by the runtime) every question is denied `policy-expired`.
 */
import type { ConnectQuery, Conduit, Decider, Decision, ModbusOperation, Scope, SessionFacts } from './types';
import { ScopeState, decideConnect, decideModbus, decideOperation, resolveScope } from './decide';
import type { PolicyIndex } from './compile';
import { decideDnp3 } from './dnp3-decide';
import type { Dnp3Operation } from './dnp3';
import { decideIec104, decideIec104Station } from './iec104-decide';
import type { Iec104Operation } from './iec104';

/** The decider over whichever compiled index is active. */
export class IndexDecider implements Decider {
  private index: PolicyIndex | null;
  private expired = false;
  private readonly noPolicy: Decision = Object.freeze({ decision: 'deny', conduit: null, reason: 'no-policy', identity: null });
  private readonly expiredPolicy: Decision = Object.freeze({ decision: 'deny', conduit: null, reason: 'policy-expired', identity: null });

  constructor(index: PolicyIndex | null = null) {
    this.index = index;
  }

  /** Makes `index` the active policy (null: deny everything). Live scopes re-resolve lazily. */
  setIndex(index: PolicyIndex | null): void {
    this.index = index;
  }

  /**
   * Denies everything as `policy-expired` (true) or decides normally again (false). The runtime
   * sets it when the active bundle expired offline and the policy says `onExpiry: deny-all`;
   * setIndex() does not clear it.
   */
  setExpired(expired: boolean): void {
    this.expired = expired;
  }

  /** Whether setExpired(true) is in force. */
  get isExpired(): boolean {
    return this.expired;
  }

  /** The active index, or null. */
  get active(): PolicyIndex | null {
    return this.index;
  }

  /** The active policy version, or null with no policy. */
  get version(): string | null {
    return this.index?.version ?? null;
  }

  /** A conduit of the active policy by id (drivers read rateLimit and mode). */
  conduit(id: string): Conduit | undefined {
    return this.index?.conduitById.get(id);
  }

  connect(query: ConnectQuery, nowMs: number): { scope: Scope; decision: Decision } {
    const scope = new ScopeState();
    scope.source = { ip: query.sourceIp === '' ? undefined : query.sourceIp, fromIdentity: query.identity, session: query.session };
    scope.dest = { asset: query.asset, ip: undefined, port: query.port, protocol: query.protocol, hasOp: false };
    this.resolve(scope);
    return { scope, decision: this.index === null ? this.noPolicy : this.expired ? this.expiredPolicy : decideConnect(scope, nowMs) };
  }

  modbus(scope: Scope, fn: number, unit: number, address: number, count: number, nowMs: number, writeAddress?: number, writeCount?: number): Decision {
    const s = scope as ScopeState;
    if (s.index !== this.index) this.resolve(s);
    if (this.index === null) return this.noPolicy;
    if (this.expired) return this.expiredPolicy;
    return decideModbus(s, fn, unit, address, count, nowMs, writeAddress, writeCount);
  }

  operation(scope: Scope, op: ModbusOperation, nowMs: number): Decision {
    const s = scope as ScopeState;
    if (s.index !== this.index) this.resolve(s);
    if (this.index === null) return this.noPolicy;
    if (this.expired) return this.expiredPolicy;
    return decideOperation(s, op, nowMs);
  }

  dnp3(scope: Scope, op: Dnp3Operation, nowMs: number): Decision {
    const s = scope as ScopeState;
    if (s.index !== this.index) this.resolve(s);
    if (this.index === null) return this.noPolicy;
    if (this.expired) return this.expiredPolicy;
    return decideDnp3(s, op, nowMs);
  }

  iec104(scope: Scope, op: Iec104Operation, nowMs: number): Decision {
    const s = scope as ScopeState;
    if (s.index !== this.index) this.resolve(s);
    if (this.index === null) return this.noPolicy;
    if (this.expired) return this.expiredPolicy;
    return decideIec104(s, op, nowMs);
  }

  iec104Station(scope: Scope, op: Iec104Operation, nowMs: number): Decision {
    const s = scope as ScopeState;
    if (s.index !== this.index) this.resolve(s);
    if (this.index === null) return this.noPolicy;
    if (this.expired) return this.expiredPolicy;
    return decideIec104Station(s, op, nowMs);
  }

  /** The connection-level decision again (e.g. a TCP conduit re-checked after activation). */
  recheck(scope: Scope, nowMs: number): Decision {
    const s = scope as ScopeState;
    if (s.index !== this.index) this.resolve(s);
    return this.index === null ? this.noPolicy : this.expired ? this.expiredPolicy : decideConnect(s, nowMs);
  }

  /** The identity a scope's denies name: the logged-in person, else the device (re-resolved under the active index). */
  scopeIdentity(scope: Scope): string | null {
    const s = scope as ScopeState;
    if (s.index !== this.index) this.resolve(s);
    return s.identity;
  }

  /** The device half of a scope's source: the identity bound to its address, logged-in person or not. */
  scopeDevice(scope: Scope): string | null {
    const s = scope as ScopeState;
    if (s.index !== this.index) this.resolve(s);
    return s.device;
  }

  /**
   * Replaces a scope's session facts (edge login or logout) and re-resolves it. The device bound
   * to the source address stays part of the source: a login adds the person, a logout removes it.
   */
  refreshSession(scope: Scope, session: SessionFacts | undefined): void {
    const s = scope as ScopeState;
    s.source = { ip: s.source.ip, fromIdentity: s.source.fromIdentity, session };
    this.resolve(s);
  }

  private resolve(s: ScopeState): void {
    if (this.index === null) {
      s.index = null;
      s.policyVersion = 'none';
      s.identity = null;
      s.device = null;
      return;
    }
    resolveScope(s, this.index, s.source, s.dest);
  }
}
