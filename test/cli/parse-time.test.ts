// parseTimeOption: the one reader of time options (audit show, report, fleet grant/sign/...).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDurationOption, parseTimeOption } from '../../protocol/parse-time';
import { ZonegateError } from '../../policy/errors';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const past = (text: string) => parseTimeOption(text, { flag: '--since', now: NOW, durations: 'past' });
const future = (text: string) => parseTimeOption(text, { flag: '--until', now: NOW, durations: 'future' });

test('reads now, ISO 8601 times, dates at UTC midnight and epoch milliseconds', () => {
  assert.is(past('now'), NOW);
  assert.is(past('2026-03-01T10:10:00Z'), Date.parse('2026-03-01T10:10:00Z'));
  assert.is(past('2026-03-01T10:10:00+01:00'), Date.parse('2026-03-01T09:10:00Z'));
  assert.is(past('2026-02-27'), Date.parse('2026-02-27T00:00:00Z'));
  assert.is(past('1772366400000'), 1772366400000);
  assert.is(past(' 2026-02-27 '), Date.parse('2026-02-27T00:00:00Z'));
});

test('a bare duration counts back for filters and forward for expiries', () => {
  assert.is(past('2h'), NOW - 7_200_000);
  assert.is(past('7d'), NOW - 7 * 86_400_000);
  assert.is(future('90m'), NOW + 5_400_000);
  assert.is(future('2w'), NOW + 14 * 86_400_000);
  assert.is(future('30s'), NOW + 30_000);
});

test('anything else is a usage error naming the flag and the accepted spellings', () => {
  for (const bad of ['yesterday', '', '0h', '2026', '2026-13-45', '12:00', '1.5h', '-2h', '2026-03-01 10:00']) {
    const e = (() => { try { past(bad); } catch (err) { return err; } return undefined; })();
    assert.instance(e, ZonegateError, `rejects ${JSON.stringify(bad)}`);
    assert.is((e as ZonegateError).code, 'ERR_USAGE');
    assert.match((e as Error).message, `--since: cannot read the time '${bad}': use now, an ISO 8601 time`);
  }
});

test('a span option (--timeout, --until-idle): units, fractions, bare seconds; a usage error naming the flag otherwise', () => {
  assert.equal(['30s', '1.5s', '500ms', '2m', '1h', '12'].map((t) => parseDurationOption(t, '--timeout')), [30_000, 1_500, 500, 120_000, 3_600_000, 12_000]);
  for (const [bad, why] of [['soon', 'not a duration: "soon"'], ['0s', 'must be more than 0 and at most 24h'], ['25h', 'must be more than 0 and at most 24h'], ['-2s', 'not a duration']]) {
    const e = (() => { try { parseDurationOption(bad, '--timeout'); } catch (err) { return err; } return undefined; })();
    assert.is((e as ZonegateError).code, 'ERR_USAGE', bad);
    assert.match((e as Error).message, `--timeout: ${why}`);
  }
});

test.run();
