import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ZoneClock, localWeekMinute, weekdayMask, windowOpen } from '../../policy/schedule';

const wm = (day: number, h: number, m = 0) => day * 1440 + h * 60 + m;

test('weekday masks: Monday is bit 0, no days is every day', () => {
  assert.is(weekdayMask(['mon']), 1);
  assert.is(weekdayMask(['sun']), 64);
  assert.is(weekdayMask(['mon', 'fri']), 1 | 16);
  assert.is(weekdayMask([]), 0x7f);
  assert.throws(() => weekdayMask(['funday' as never]), /unknown weekday 'funday'/);
});

test('windows: from inclusive, to exclusive; crossing midnight belongs to the start day', () => {
  const fri = weekdayMask(['fri']);
  assert.ok(windowOpen(fri, 480, 1020, wm(4, 8)));
  assert.not.ok(windowOpen(fri, 480, 1020, wm(4, 7, 59)));
  assert.not.ok(windowOpen(fri, 480, 1020, wm(4, 17)));
  assert.not.ok(windowOpen(fri, 480, 1020, wm(3, 9)));
  // Fri 22:00 → Sat 04:00
  assert.ok(windowOpen(fri, 1320, 240, wm(4, 22)));
  assert.ok(windowOpen(fri, 1320, 240, wm(5, 3, 59)));
  assert.not.ok(windowOpen(fri, 1320, 240, wm(5, 4)));
  assert.not.ok(windowOpen(fri, 1320, 240, wm(4, 3)));
  assert.not.ok(windowOpen(fri, 1320, 240, wm(5, 22)));
  // Sunday night into Monday wraps the week
  const sun = weekdayMask(['sun']);
  assert.ok(windowOpen(sun, 1320, 240, wm(0, 1)));
  assert.not.ok(windowOpen(sun, 1320, 240, wm(1, 1)));
  // from == to: 24 hours from `from`
  assert.ok(windowOpen(fri, 600, 600, wm(5, 9, 59)));
  assert.not.ok(windowOpen(fri, 600, 600, wm(5, 10)));
  assert.ok(windowOpen(fri, 0, 0, wm(4, 0)) && windowOpen(fri, 0, 0, wm(4, 23, 59)) && !windowOpen(fri, 0, 0, wm(5, 0)));
});

test('local time in a zone, UTC fast path equals Intl', () => {
  // 2026-03-02 is a Monday
  assert.is(localWeekMinute('UTC', Date.UTC(2026, 2, 2, 14, 7)), wm(0, 14, 7));
  assert.is(localWeekMinute('Etc/UTC', Date.UTC(2026, 2, 2, 14, 7)), wm(0, 14, 7));
  assert.is(localWeekMinute('America/Chicago', Date.UTC(2026, 2, 2, 14, 7)), wm(0, 8, 7));
  assert.is(localWeekMinute('America/Chicago', Date.UTC(2026, 2, 2, 3, 0)), wm(6, 21, 0), 'Sunday evening');
  assert.is(localWeekMinute('Asia/Kolkata', Date.UTC(2026, 2, 2, 20, 0)), wm(1, 1, 30));
  assert.is(localWeekMinute('UTC', Date.UTC(1969, 11, 31, 23, 59)), wm(2, 23, 59), 'before the epoch: Wednesday');
  // DST: Chicago spring forward 2026-03-08 08:00Z is 03:00 CDT
  assert.is(localWeekMinute('America/Chicago', Date.UTC(2026, 2, 8, 7, 59)), wm(6, 1, 59));
  assert.is(localWeekMinute('America/Chicago', Date.UTC(2026, 2, 8, 8, 0)), wm(6, 3, 0));
  // Berlin fall back 2026-10-25 01:00Z: 02:59 CEST → 02:00 CET
  assert.is(localWeekMinute('Europe/Berlin', Date.UTC(2026, 9, 25, 0, 59)), wm(6, 2, 59));
  assert.is(localWeekMinute('Europe/Berlin', Date.UTC(2026, 9, 25, 1, 0)), wm(6, 2, 0));
});

test('ZoneClock caches per zone per UTC minute and agrees with Intl', () => {
  const clock = new ZoneClock(['UTC', 'America/Chicago', 'Europe/Berlin']);
  const start = Date.UTC(2026, 2, 7, 20, 0);
  for (let m = 0; m < 24 * 60; m += 7) {
    const t = start + m * 60_000 + 12_345;
    for (const [i, tz] of ['UTC', 'America/Chicago', 'Europe/Berlin'].entries()) {
      assert.is(clock.weekMinute(i, t), localWeekMinute(tz, t), `${tz} at ${new Date(t).toISOString()}`);
      assert.is(clock.weekMinute(i, t + 1000), localWeekMinute(tz, t), 'same minute from the cache');
    }
  }
  assert.throws(() => new ZoneClock(['Mars/Olympus']).weekMinute(0, 0), RangeError);
});

test.run();
