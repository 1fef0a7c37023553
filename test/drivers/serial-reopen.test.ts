/**
 * openReopening (drivers/modbus-rtu/serial.ts) with an `open` the test controls: a lost device is
 * closed and reported once, tried again every retryMs while opening fails, and reported up when it
 * opens; handlers survive the reopening; close() stops the retries. (The same code against real
 * socat ptys: test/runtime/gateway-rtu.test.ts, adapter unplugged.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openReopening, type SerialLine, type SerialPort } from '../../drivers/modbus-rtu/serial';
import { waitFor } from '../e2e/helpers';

interface FakePort extends SerialPort { lose(why: string): void; feed(b: Buffer): void; written: Buffer[]; closed: boolean }
function fakePort(): FakePort {
  const fns: Record<string, Array<(x: never) => void>> = { data: [], error: [], lost: [] };
  const p: FakePort = {
    written: [], closed: false,
    on: (event: string, fn: (x: never) => void) => { fns[event].push(fn); },
    write: (b: Buffer) => { p.written.push(b); },
    close: () => { p.closed = true; },
    lose: (why) => { for (const fn of fns.lost) (fn as (w: string) => void)(why); },
    feed: (b) => { for (const fn of fns.data) (fn as (c: Buffer) => void)(b); },
  } as FakePort;
  return p;
}

const line: SerialLine = { device: '/dev/ttyFAKE0', baud: 9600, parity: 'even', stopBits: 1 };

test('lost → down once, retried while opening fails, up when it opens; data handlers survive; close stops retrying', async () => {
  const ports: FakePort[] = [];
  let failures = 2, opens = 0;
  const open = async (): Promise<SerialPort> => {
    opens++;
    if (ports.length > 0 && failures > 0) { failures--; throw new Error('ENOENT'); }
    const p = fakePort();
    ports.push(p);
    return p;
  };
  const events: string[] = [];
  const port = await openReopening(line, open, { down: (why) => events.push(`down ${why}`), up: () => events.push('up') }, 10);
  const got: string[] = [];
  port.on('data', (c) => got.push(String(c)));
  assert.ok(port.up);
  ports[0].feed(Buffer.from('a'));
  ports[0].lose('gone');
  ports[0].lose('gone again');
  assert.ok(ports[0].closed, 'the lost device is closed');
  assert.not.ok(port.up);
  port.write(Buffer.from('dropped'));
  assert.equal(ports[0].written, [], 'nothing is written while down');
  await waitFor(() => events.includes('up'), 'the reopening');
  assert.equal(events, ['down gone', 'up']);
  assert.is(opens, 4, 'the first open, two failed retries, the one that worked');
  ports[0].feed(Buffer.from('stale'));
  ports[1].feed(Buffer.from('b'));
  assert.equal(got, ['a', 'b'], 'the old port is no longer heard; handlers moved to the new one');
  port.write(Buffer.from('x'));
  assert.equal(ports[1].written.map(String), ['x']);
  ports[1].lose('gone');
  port.close();
  const n = opens;
  await new Promise((r) => setTimeout(r, 50));
  assert.is(opens, n, 'no retry after close()');
  assert.equal(events, ['down gone', 'up', 'down gone']);
});

test('a first open that fails throws to the caller (the start fails, located, as before)', async () => {
  let err: unknown;
  try { await openReopening(line, async () => { throw new Error('no such device'); }, { down: () => undefined, up: () => undefined }, 10); } catch (e) { err = e; }
  assert.match(String(err), 'no such device');
});

test.run();
