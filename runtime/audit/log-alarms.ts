/** The audit log's alarms: raised (again: count and message updated) or cleared; every change reaches onAlarm. */
import type { AuditAlarm, AuditAlarmCode } from './log-types';

export class AuditAlarms {
  private readonly alarms = new Map<AuditAlarmCode, AuditAlarm>();

  constructor(private readonly now: () => number, private readonly onAlarm?: (alarm: AuditAlarm) => void) {}

  raise(code: AuditAlarmCode, message: string): void {
    const at = this.now();
    const a = this.alarms.get(code);
    const alarm: AuditAlarm = a
      ? { code, message, active: true, count: a.count + 1, firstAt: a.firstAt, lastAt: at }
      : { code, message, active: true, count: 1, firstAt: at, lastAt: at };
    this.alarms.set(code, alarm);
    this.notify(alarm);
  }

  /** Clears an active alarm (its cause is gone); onAlarm hears it with active false. */
  clear(code: AuditAlarmCode): void {
    const a = this.alarms.get(code);
    if (!a?.active) return;
    const cleared = { ...a, active: false, lastAt: this.now() };
    this.alarms.set(code, cleared);
    this.notify(cleared);
  }

  list(): AuditAlarm[] {
    return [...this.alarms.values()].map((a) => ({ ...a }));
  }

  private notify(alarm: AuditAlarm): void {
    if (!this.onAlarm) return;
    try { this.onAlarm({ ...alarm }); } catch { /* an alarm handler must not break the log */ }
  }
}
