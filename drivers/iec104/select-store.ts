/**
 * Select-before-execute for IEC 104 commands and set-points (IEC 60870-5-101:2003 section 7.2.6.26,
 * the S/E bit of SCO, DCO, RCO and QOS): the selects each identity made, so that an execute is
 * forwarded only when, for every object, the same identity selected the same common address and
 * IOA with the same type, command value and qualifier within the select timeout. Only an
 * execute that is allowed and forwarded consumes its selects (the proxy cancels them then): a
 * refused one leaves them for a retry within the timeout. A deactivation (cause 8) cancels them,
 * and so may the proxy when the station refuses a select. Bounded: the oldest entries go first
 * when it is full.
 */
import { CommandKind, type Asdu } from './asdu';

interface Selected { type: number; value: number; qualifier: number; at: number }

export class Iec104SelectStore {
  private readonly entries = new Map<string, Selected>();
  constructor(private readonly options: { timeoutMs: number; max?: number }) {
    if (!(options.timeoutMs > 0)) throw new TypeError(`Iec104SelectStore: timeoutMs ${options.timeoutMs} must be positive`);
  }

  private static key(identity: string, ca: number, ioa: number): string {
    return `${identity}\u0000${ca}\u0000${ioa}`;
  }

  /** Remembers a forwarded select (every object of the ASDU; S/E = 1). */
  select(identity: string, a: Asdu, nowMs: number): void {
    if (a.command === CommandKind.NONE || a.command === CommandKind.BITSTRING) throw new TypeError(`Iec104SelectStore.select: type ${a.typeId} has no select`);
    const max = this.options.max ?? 1024;
    for (let i = 0; i < a.count; i++) {
      const key = Iec104SelectStore.key(identity, a.ca, a.ioa[i]);
      this.entries.delete(key);
      if (this.entries.size >= max) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      this.entries.set(key, { type: a.typeId, value: a.value[i], qualifier: a.qualifier[i], at: nowMs });
    }
  }

  /**
   * Whether an execute (S/E = 0) matches a live select of this identity for every object. It
   * consumes nothing (an expired select is forgotten): the caller cancels the selects once the
   * execute is forwarded. NaN values never match (NaN is not equal to itself).
   */
  matches(identity: string, a: Asdu, nowMs: number): boolean {
    if (a.count === 0 || this.entries.size === 0) return false; // no key strings built for direct executes
    for (let i = 0; i < a.count; i++) {
      const key = Iec104SelectStore.key(identity, a.ca, a.ioa[i]);
      const e = this.entries.get(key);
      if (e === undefined) return false;
      if (nowMs - e.at > this.options.timeoutMs) { this.entries.delete(key); return false; }
      if (e.type !== a.typeId || e.value !== a.value[i] || e.qualifier !== a.qualifier[i]) return false;
    }
    return true;
  }

  /** Forgets this identity's selects of the ASDU's objects (an execute forwarded, a deactivation, a refused select). */
  cancel(identity: string, a: Asdu): void {
    if (this.entries.size === 0) return;
    for (let i = 0; i < a.count; i++) this.entries.delete(Iec104SelectStore.key(identity, a.ca, a.ioa[i]));
  }

  /** Forgets expired selects. */
  prune(nowMs: number): void {
    for (const [k, e] of this.entries) if (nowMs - e.at > this.options.timeoutMs) this.entries.delete(k);
  }

  get size(): number { return this.entries.size; }
}
