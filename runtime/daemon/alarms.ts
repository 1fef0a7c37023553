/**
 * One alarm model: every part's alarms live here (ids `audit:*`, `store:*`, `nftables`,
 * `disk-full`, ...). status.json shows them and the MQTT status publishes exactly the ones
 * active now (published()). A new or cleared alarm is announced to `onSetChanged` (the sync
 * republishes its status); any change, a new message too, to `onChanged` (status.json follows).
 */
import type { Alarm } from '../gateway-status';

export interface Alarms {
  raise(id: string, severity: Alarm['severity'], message: string): void;
  clear(id: string): void;
  has(id: string): boolean;
  ids(): string[];
  /** Copies of every active alarm. */
  list(): Alarm[];
  /** The short names the MQTT status carries: every alarm active now, `store:`/`audit:` prefixes dropped. */
  published(): string[];
  /** Disk full as the audit log (a failed write) and the status file (written in place) see it; null clears. */
  diskFull(who: 'audit' | 'status', why: string | null): void;
  diskFullOf(who: 'audit' | 'status'): string | null;
}

export function createAlarms(o: { now: () => number; onSetChanged(): void; onChanged(): void }): Alarms {
  const alarms = new Map<string, Alarm>();
  const disk = { audit: null as string | null, status: null as string | null };
  const self: Alarms = {
    raise(id, severity, message) {
      const a = alarms.get(id);
      if (!a) { alarms.set(id, { id, severity, message, since: o.now() }); o.onSetChanged(); o.onChanged(); }
      else if (a.message !== message || a.severity !== severity) { a.message = message; a.severity = severity; o.onChanged(); }
    },
    clear(id) { if (alarms.delete(id)) { o.onSetChanged(); o.onChanged(); } },
    has: (id) => alarms.has(id),
    ids: () => [...alarms.keys()],
    list: () => [...alarms.values()].map((a) => ({ ...a })),
    published: () => [...new Set([...alarms.keys()].map((id) => id.replace(/^(store|audit):/, '')))],
    diskFull(who, why) {
      disk[who] = why;
      const all = [disk.audit && `audit log: ${disk.audit}`, disk.status && `status file: ${disk.status}`].filter(Boolean).join('; ');
      if (all) self.raise('disk-full', 'critical', `disk full in the state folder (${all}); still enforcing, audit records wait in memory`);
      else self.clear('disk-full');
    },
    diskFullOf: (who) => disk[who],
  };
  return self;
}
