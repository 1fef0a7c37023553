// The free-port picker every peer and listener of the suite, and make demo, take their port from. The README walk
// once failed because two bind(0) calls in one test gave the same port to two listeners of one
// config (CI, 2026-12-03: "duplicate listen address 127.0.0.1:40643"), and ports from the
// ephemeral range can be taken by any client socket of a second suite before the test binds them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort } from '../../../runtime/lab/free-port';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

test('ports are never handed out twice in one process and lie below the ephemeral range', async () => {
  const seen = new Set<number>();
  for (let i = 0; i < 300; i++) {
    const p = await freePort();
    assert.not.ok(seen.has(p), `port ${p} handed out twice`);
    assert.ok(p < ephemeralLow, `port ${p} is in the ephemeral range (from ${ephemeralLow})`);
    seen.add(p);
  }
});

test('a port something listens on is not handed out', async () => {
  const taken: ReturnType<typeof createServer>[] = [];
  // Occupy a stretch of the range; none of them may come back.
  const ports = new Set<number>();
  for (let p = 20_000; p < 20_400; p++) {
    const s = createServer();
    const ok = await new Promise<boolean>((res) => { s.once('error', () => res(false)); s.listen(p, '127.0.0.1', () => res(true)); });
    if (ok) { taken.push(s); ports.add(p); }
  }
  try {
    for (let i = 0; i < 300; i++) assert.not.ok(ports.has(await freePort()));
  } finally {
    for (const s of taken) s.close();
  }
});

test.run();
