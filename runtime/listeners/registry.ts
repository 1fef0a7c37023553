/**
 * The driver registry: each protocol driver registers, under the `service` a config listener
 * names, the factory that builds its listener (runtime/listeners/<driver>.ts, beside its wiring;
 * builtin.ts lists them), with what `status`, `audit show` and the report show of it. The daemon looks a listener's service up here and knows no service by
 * name, so a new driver needs a registration, not a change to the daemon.
 */
import type { Decider, Protocol, SessionFacts } from '../../policy/types';
import type { IndexDecider } from '../../policy/decider';
import type { AuditSink, Driver } from '../../drivers/types';
import type { OperationText } from '../../protocol/audit/operation-text';
import type { ReportSection } from '../report/section';
import type { Handler } from '../bus';
import type { GatewayConfig } from '../config';
import type { ResolvedListener } from '../config/resolve-listeners';
import type { Alarm, ListenerStatus } from '../gateway-status';
import type { GatewayEvents, GatewayLog } from '../daemon/events';

/** What a listener factory is handed: its resolved listener and the daemon's shared services. */
export interface ListenerDeps {
  spec: ResolvedListener;
  config: GatewayConfig;
  /** The session decider once access is attached (edge login, identity and grant facts), else the policy's. */
  decider: Decider;
  /** The policy's own decider: conduit lookups (rate limits). */
  policy: IndexDecider;
  /** Edge-session facts of a source address, once access is attached. */
  session?: (sourceIp: string) => SessionFacts | undefined;
  audit: AuditSink;
  now: () => number;
  log: GatewayLog;
  /** Handles a gateway event for as long as this listener runs. */
  on<K extends keyof GatewayEvents>(event: K, fn: Handler<GatewayEvents[K]>): void;
  /** Raises or clears this listener's alarm `<kind>:<listener key>` (cleared anyway when it stops). */
  alarm(kind: string, raise: { severity: Alarm['severity']; message: string } | null): void;
  /** How often a lost serial device is tried again (GatewayOptions.serialReopenMs). */
  serialReopenMs?: number;
}

/** A built listener: the driver the daemon starts and stops, and what its status shows. */
export interface BuiltListener {
  driver: Driver & { address(): { address?: string; host?: string; port: number } };
  stats(): Record<string, number>;
  /** The status's `address` when the driver has no network address of its own (an RTU master's serial device). */
  label?: string;
}

export interface DriverRegistration {
  /** The config's `service` value. */
  service: string;
  /** The policy protocol it enforces (nftables redirects this protocol's conduits to the listener). */
  protocol: Protocol;
  /** Whether clients reach it over the network (false: a serial line); default true. */
  network?: boolean;
  create(deps: ListenerDeps): BuiltListener;
  /** The config field a start failure points at (default `listen`), e.g. `serial.device`. */
  failedField?(error: unknown): string[];
  /** What `zonegate status` shows of such a listener beyond the common fields (IEC 104: its link settings). */
  statusOf?(spec: ResolvedListener): Partial<ListenerStatus>;
  /** The OPERATION text `audit show` prints for a record this driver wrote (undefined: not one of its records). */
  auditOperation?: OperationText;
  /** Its part of the compliance report's history: what it counts from the audit records and the tables it shows. */
  reportSection?: ReportSection;
}

/** Service name → registration; one registration per service. */
export class DriverRegistry {
  private readonly entries = new Map<string, DriverRegistration>();

  /** Adds a driver; a second registration of the same service is a programming error. */
  register(reg: DriverRegistration): this {
    if (this.entries.has(reg.service)) throw new TypeError(`driver registry: service '${reg.service}' is registered already`);
    this.entries.set(reg.service, reg);
    return this;
  }

  /** The registration of `service`; a listener of a service nobody registered cannot be built. */
  get(service: string): DriverRegistration {
    const reg = this.entries.get(service);
    if (!reg) throw new TypeError(`driver registry: no driver registered for service '${service}'`);
    return reg;
  }

  has(service: string): boolean {
    return this.entries.has(service);
  }

  services(): string[] {
    return [...this.entries.keys()];
  }

  /** The drivers' audit OPERATION formatters in registration order, each once (the Modbus services share one). */
  auditOperations(): OperationText[] {
    return [...new Set([...this.entries.values()].flatMap((reg) => (reg.auditOperation ? [reg.auditOperation] : [])))];
  }

  /** The drivers' report sections in registration order, each once. */
  reportSections(): ReportSection[] {
    return [...new Set([...this.entries.values()].flatMap((reg) => (reg.reportSection ? [reg.reportSection] : [])))];
  }

  /** Each service and the policy protocol it serves: what a config is read against (runtime/config.ts ConfigOptions). */
  protocols(): Record<string, Protocol> {
    const out: Record<string, Protocol> = Object.create(null);
    for (const [service, reg] of this.entries) out[service] = reg.protocol;
    return out;
  }
}
