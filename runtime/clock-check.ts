/**
 * Is the clock believable? A gateway without a battery-backed clock (a Raspberry Pi) can boot
 * offline with a time far in the past. Schedules, bundle expiry and the audit log's times then
 * mean nothing, and nothing says so. A floor is a time the clock cannot be before: the moment the
 * active policy bundle was signed, say. The gateway raises the `clock` alarm while the clock is
 * behind one by more than the slack, and clears it once the time is set.
 */

/** A time the clock cannot be before, and what it is. */
export interface ClockFloor { what: string; at: number }

/** Clocks of different machines differ a little; this much behind a floor is not an alarm. */
export const CLOCK_SLACK_MS = 5 * 60_000;

/** The latest floor `now` is behind by more than the slack, or null when the clock is believable. */
export function clockBehind(now: number, floors: readonly ClockFloor[], slackMs = CLOCK_SLACK_MS): ClockFloor | null {
  let worst: ClockFloor | null = null;
  for (const f of floors) if (Number.isFinite(f.at) && now < f.at - slackMs && (worst === null || f.at > worst.at)) worst = f;
  return worst;
}

/** The alarm text for a clock behind `floor`. */
export function clockAlarmMessage(now: number, floor: ClockFloor): string {
  return `the clock (${new Date(now).toISOString()}) is behind ${floor.what} (${new Date(floor.at).toISOString()}): `
    + 'schedules, expiry and audit times are wrong until the time is set (NTP or a real-time clock)';
}
