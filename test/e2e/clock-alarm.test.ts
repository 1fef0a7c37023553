/**
 * The `clock` alarm (issue 20 item 3): a gateway whose clock is behind the signing time of the
 * bundle it enforces (a Pi without a real-time clock, booted offline) says so in status() and in
 * `zonegate status`, and the alarm clears once the time is set. The clock is the gateway's
 * injected `now`, moved by the test; everything else is real (signed bundle, store, status file).
 * The status file is written on every alarm change, not only every statusIntervalMs (turned off
 * here): the fleet and `zonegate status` never disagree about an alarm for an interval.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createGateway } from '../../runtime/gateway';
import { clockBehind, CLOCK_SLACK_MS } from '../../runtime/clock-check';
import { makeLab, signedConfig, modbusUpstream, labPolicy, cli, waitFor, type Cleanup } from './helpers';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

test('clockBehind: the latest floor the clock is behind by more than the slack, else null', () => {
  const floors = [{ what: 'a', at: 1_000_000_000 }, { what: 'b', at: 2_000_000_000 }];
  assert.is(clockBehind(2_000_000_000, floors), null);
  assert.is(clockBehind(2_000_000_000 - CLOCK_SLACK_MS + 1, floors), null, 'within the slack');
  assert.is(clockBehind(1_500_000_000, floors)?.what, 'b');
  assert.is(clockBehind(0, floors)?.what, 'b', 'the latest floor is named');
  assert.is(clockBehind(0, []), null);
});

test('a clock behind the active bundle\'s signing time raises `clock` in status and `zonegate status`; setting the time clears it', async () => {
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  const upstreamPort = await modbusUpstream(cleanups);
  lab.write('gateway.yaml', signedConfig({ upstreamPort }));
  const b = await lab.sign('v1', labPolicy({ writes: false, tag: 'clock' }), 1);
  assert.is((await cli('bundle', 'import', b, '--config', lab.config)).code, 0);
  let skew = -3 * 86_400_000; // booted offline three days in the past
  const gw = createGateway({
    // No periodic status writes during the test: status.json must follow each alarm change by itself.
    configFile: lab.config, now: () => Date.now() + skew, expiryCheckMs: 50, statusIntervalMs: 3_600_000,
    log: { info: () => undefined, warn: () => undefined, error: () => undefined }, writeLine: () => undefined,
  });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  const alarm = gw.status().alarms.find((a) => a.id === 'clock');
  assert.ok(alarm, JSON.stringify(gw.status().alarms));
  assert.is(alarm!.severity, 'warning');
  assert.match(alarm!.message, /is behind the signing time of policy bundle v1 \(/);
  assert.is(gw.status().policy.enforcement, 'enforcing', 'still enforcing the verified bundle');
  await waitFor(async () => /ALARM warning: the clock/.test((await cli('status', '--config', lab.config)).out), 'the alarm in zonegate status');
  skew = 0; // NTP came back
  await waitFor(() => !gw.status().alarms.some((a) => a.id === 'clock'), 'the clock alarm to clear');
  await waitFor(async () => !/ALARM warning: the clock/.test((await cli('status', '--config', lab.config)).out), 'the alarm gone from zonegate status', 5000);
});

test('a gateway restarted with its clock behind its own audit log (no bundle yet) raises `clock`, naming the log', async () => {
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  const upstreamPort = await modbusUpstream(cleanups);
  lab.write('gateway.yaml', signedConfig({ upstreamPort }));
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const first = createGateway({ configFile: lab.config, log: quiet, writeLine: () => undefined, statusIntervalMs: 0 });
  await first.start(new AbortController().signal);
  assert.not.ok(first.status().alarms.some((a) => a.id === 'clock'), 'a new log is no floor');
  await first.stop(); // the log's last record: now
  const again = createGateway({ configFile: lab.config, now: () => Date.now() - 86_400_000, log: quiet, writeLine: () => undefined, statusIntervalMs: 0 });
  await again.start(new AbortController().signal);
  cleanups.push(() => again.stop());
  const alarm = again.status().alarms.find((a) => a.id === 'clock');
  assert.ok(alarm, JSON.stringify(again.status().alarms));
  assert.match(alarm!.message, /is behind the last audit record written before this start \(/);
  assert.is(again.status().policy.enforcement, 'no-policy', 'no bundle: the log alone said it');
});

test.run();
