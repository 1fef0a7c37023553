/** The broker-refusal log line (runtime/sync/refusal-log.ts): reason codes, rate limit, reset on connect. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRefusalLog, describeRefusal } from '../../runtime/sync/refusal-log';

test('describes CONNACK/DISCONNECT reason codes, socket errors and reason strings', () => {
  assert.is(describeRefusal({ message: 'Connection refused: Not authorized', code: 135 }), 'Connection refused: Not authorized (MQTT reason code 135 / 0x87)');
  assert.is(describeRefusal({ message: 'DISCONNECT', code: 142, reasonString: 'Session taken over' }), 'DISCONNECT (MQTT reason code 142 / 0x8e: Session taken over)');
  assert.is(describeRefusal({ message: 'connect ECONNREFUSED 127.0.0.1:1', code: 'ECONNREFUSED' }), 'connect ECONNREFUSED 127.0.0.1:1');
  assert.is(describeRefusal({ message: 'getaddrinfo failed', code: 'ENOTFOUND' }), 'getaddrinfo failed (ENOTFOUND)');
});

test('logged the first time, on a new reason, then once a minute with the count of repeats; a connection resets it', () => {
  const lines: string[] = [];
  const clock = { t: 0 };
  const r = createRefusalLog({ log: (_l, m) => lines.push(m), now: () => clock.t });
  const na = { message: 'Connection refused: Not authorized', code: 135 };
  for (let i = 0; i < 5; i++) { r.refused('broker b refused', na); clock.t += 1000; }
  assert.is(lines.length, 1);
  r.refused('broker b refused', { message: 'Connection refused: Server unavailable', code: 136 });
  assert.is(lines.length, 2);
  r.refused('broker b refused', { message: 'Connection refused: Server unavailable', code: 136 });
  clock.t += 60_000;
  r.refused('broker b refused', { message: 'Connection refused: Server unavailable', code: 136 });
  assert.is(lines[2], 'broker b refused: Connection refused: Server unavailable (MQTT reason code 136 / 0x88) (1 more like it not logged)');
  r.connected();
  r.refused('broker b refused', { message: 'Connection refused: Server unavailable', code: 136 });
  assert.is(lines.length, 4);
});

test.run();
