/**
 * Says in the log why the broker refused or dropped the gateway (a CONNACK or DISCONNECT reason
 * code, MQTT 5 sections 3.2.2.2 and 3.14.2.1, or the socket error), not only "retry N in D ms".
 * Rate-limited: logged the first time, whenever the reason changes, and otherwise at most once per
 * interval while it stays the same, with how many repeats were not logged.
 */

export interface RefusalLog {
  /** Records one refusal; logs it when due. Returns its one-line description. */
  refused(what: string, err: { message?: string; code?: unknown; reasonString?: unknown }): string;
  /** The connection is up: the next refusal is logged at once. */
  connected(): void;
}

/** `Connection refused: Not authorized (MQTT reason code 135 / 0x87)` and the like. */
export function describeRefusal(err: { message?: string; code?: unknown; reasonString?: unknown }): string {
  const msg = err.message || 'unknown error';
  const code = err.code;
  const rs = typeof err.reasonString === 'string' && err.reasonString !== '' ? `: ${err.reasonString}` : '';
  if (typeof code === 'number') return `${msg} (MQTT reason code ${code} / 0x${code.toString(16).padStart(2, '0')}${rs})`;
  if (typeof code === 'string' && !msg.includes(code)) return `${msg} (${code})`;
  return `${msg}${rs ? ` (${rs.slice(2)})` : ''}`;
}

export function createRefusalLog(o: { log: (level: 'warn', message: string) => void; now: () => number; intervalMs?: number }): RefusalLog {
  const interval = o.intervalMs ?? 60_000;
  let last = '';
  let lastAt = 0;
  let repeats = 0;
  return {
    refused(what, err) {
      const line = `${what}: ${describeRefusal(err)}`;
      const t = o.now();
      if (line !== last || t - lastAt >= interval) {
        o.log('warn', `${line}${repeats > 0 ? ` (${repeats} more like it not logged)` : ''}`);
        last = line;
        lastAt = t;
        repeats = 0;
      } else {
        repeats += 1;
      }
      return line;
    },
    connected() { last = ''; repeats = 0; },
  };
}
