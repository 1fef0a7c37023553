import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createTcpConduit, type TcpConduit } from '../../drivers/tcp-conduit';
import type { AuditEvent } from '../../drivers/types';
import type { ConnectQuery, Decider, Decision } from '../../policy/types';

/** A decider allowing the sources in `allowed` (mutable), version bumped by hand. */
function fakeDecider() {
  const state = { allowed: new Set<string>(['127.0.0.1']), version: '1', calls: [] as ConnectQuery[] };
  const decider: Decider = {
    connect(q) {
      state.calls.push(q);
      const ok = state.allowed.has(q.sourceIp) && q.protocol === 'tcp';
      const decision: Decision = ok
        ? { decision: 'allow', conduit: 'ops-to-historian', reason: null, identity: 'ops-1' }
        : { decision: 'deny', conduit: null, reason: 'no-conduit', identity: null };
      return { scope: { policyVersion: state.version, identity: ok ? 'ops-1' : null }, decision };
    },
    modbus() { throw new Error('not used'); },
  };
  return { state, decider };
}

function sink() {
  const events: AuditEvent[] = [];
  return { events, audit: { record: (e: AuditEvent) => { events.push(e); } } };
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** Echo server: sends back what it reads, and its FIN after the client's. */
function echoServer(): Server {
  return createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); s.pipe(s); });
}

const cleanups: (() => Promise<unknown> | void)[] = [];
test.after.each(async () => { while (cleanups.length) await cleanups.pop()!(); });

async function conduitTo(upstreamPort: number, extra: Partial<Parameters<typeof createTcpConduit>[0]> = {}) {
  const d = fakeDecider();
  const s = sink();
  const conduit = createTcpConduit({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: upstreamPort },
    asset: 'historian', port: 443, decider: d.decider, audit: s.audit, now: Date.now, ...extra,
  });
  const ac = new AbortController();
  await conduit.start(ac.signal);
  cleanups.push(() => conduit.stop());
  return { conduit, ...d, ...s };
}

function dial(c: TcpConduit): Socket {
  const s = connect({ host: '127.0.0.1', port: c.address().port, allowHalfOpen: true });
  s.on('error', () => {});
  cleanups.push(() => { s.destroy(); });
  return s;
}

/** Reads a socket to its end (then ends our half too); resolves with the bytes (or what came before a reset). */
function readAll(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  s.on('end', () => s.end());
  return new Promise((r) => s.once('close', () => r(Buffer.concat(parts))));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => cond() ? resolve() : Date.now() - started > ms ? reject(new Error(`timed out waiting for ${what}`)) : setTimeout(tick, 5);
    tick();
  });
}

test('allowed connection splices 24 MiB both ways intact (checksummed)', async () => {
  const up = echoServer(); const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit, events, state } = await conduitTo(port);
  const payload = randomBytes(24 * 1024 * 1024);
  const s = dial(conduit);
  const got = readAll(s);
  // Write in chunks, honouring backpressure like a real client.
  for (let off = 0; off < payload.length; off += 1 << 20) {
    if (!s.write(payload.subarray(off, off + (1 << 20)))) await once(s, 'drain');
  }
  s.end();
  const back = await got;
  assert.is(back.length, payload.length);
  assert.is(sha(back), sha(payload));
  assert.equal(state.calls[0], { sourceIp: '127.0.0.1', asset: 'historian', port: 443, protocol: 'tcp' });
  await until(() => events.some((e) => e.message === 'closed'), 'close audit');
  const open = events.find((e) => e.kind === 'decision')!;
  assert.is(open.decision!.decision, 'allow');
  assert.is(open.decision!.conduit, 'ops-to-historian');
  assert.is(open.policyVersion, '1');
  assert.is(open.src, '127.0.0.1');
  assert.is(open.port, 443);
  const closed = events.find((e) => e.message === 'closed')!;
  assert.is(closed.detail!.bytesUp, payload.length);
  assert.is(closed.detail!.bytesDown, payload.length);
  assert.is(closed.detail!.reason, 'end');
  assert.is(conduit.stats().bytesUp, payload.length);
  assert.is(conduit.stats().active, 0);
});

test('backpressure: a stalled upstream stalls the client instead of filling the proxy\'s memory', async () => {
  let upstreamSock: Socket | undefined;
  let received = 0;
  const up = createServer({ allowHalfOpen: true }, (s) => {
    upstreamSock = s; s.pause();
    s.on('data', (d: Buffer) => { received += d.length; });
    s.on('end', () => s.end(String(received)));
  });
  const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit } = await conduitTo(port);
  const s = dial(conduit);
  const total = 96 * 1024 * 1024;
  const chunk = Buffer.alloc(1 << 20, 1);
  let sent = 0;
  // Write until the path stalls (no 'drain' for 500 ms) or everything is sent.
  while (sent < total) {
    sent += chunk.length;
    if (!s.write(chunk)) {
      const drained = await Promise.race([once(s, 'drain').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 500))]);
      if (!drained) break;
    }
  }
  const absorbed = sent - s.writableLength;
  assert.ok(sent < total, 'the client was stalled');
  assert.ok(absorbed < 32 * 1024 * 1024, `the path absorbed ${absorbed} bytes (kernel buffers + bounded proxy buffers)`);
  // Release the upstream: everything arrives.
  upstreamSock!.resume();
  const reply = readAll(s);
  while (sent < total) { sent += chunk.length; if (!s.write(chunk)) await once(s, 'drain'); }
  s.end();
  assert.is((await reply).toString(), String(total));
});

test('denied connection is closed at once, never reaches upstream, and is audited', async () => {
  let upstreamConnections = 0;
  const up = createServer((s) => { upstreamConnections += 1; s.destroy(); });
  const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit, events, state } = await conduitTo(port);
  state.allowed.clear();
  const s = dial(conduit);
  s.write('GET / HTTP/1.1\r\n\r\n');
  const got = await readAll(s);
  assert.is(got.length, 0);
  assert.is(upstreamConnections, 0);
  const d = events.find((e) => e.kind === 'decision')!;
  assert.is(d.decision!.decision, 'deny');
  assert.is(d.decision!.reason, 'no-conduit');
  assert.is(conduit.stats().denied, 1);
  assert.is(conduit.stats().accepted, 0);
});

test('half-close: the server replies after the client ended its stream', async () => {
  // The server reads to the client's FIN, then answers with what it counted and closes.
  const up = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (d: Buffer) => { n += d.length; });
    s.on('end', () => { setTimeout(() => s.end(`received ${n} bytes after your FIN`), 20); });
  });
  const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit } = await conduitTo(port);
  const s = dial(conduit);
  const got = readAll(s);
  s.end(Buffer.alloc(100_000, 7));
  assert.is((await got).toString(), 'received 100000 bytes after your FIN');
});

test('idle timeout closes a silent connection and says why', async () => {
  const up = echoServer(); const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit, events } = await conduitTo(port, { idleTimeoutMs: 150 });
  const s = dial(conduit);
  s.write('hello');
  const got = await readAll(s);
  assert.is(got.toString(), 'hello');
  await until(() => events.some((e) => e.message === 'closed'), 'close audit');
  assert.is(events.find((e) => e.message === 'closed')!.detail!.reason, 'idle timeout');
  assert.is(conduit.stats().idleTimeouts, 1);
});

test('per-source cap refuses the connection over the limit and audits it', async () => {
  const up = echoServer(); const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit, events } = await conduitTo(port, { perSourceMax: 2 });
  const a = dial(conduit), b = dial(conduit);
  a.write('a'); b.write('b');
  await Promise.all([once(a, 'data'), once(b, 'data')]);
  const c = dial(conduit);
  const got = await readAll(c);
  assert.is(got.length, 0);
  const refused = events.find((e) => e.kind === 'connection' && String(e.message).startsWith('refused'))!;
  assert.is(refused.message, 'refused: per-source connection cap');
  assert.is(refused.detail!.limit, 2);
  assert.is(conduit.stats().refused, 1);
  // The first two still work.
  a.write('still here');
  assert.is(String((await once(a, 'data'))[0]), 'still here');
  // A closed connection frees its slot.
  b.destroy();
  await until(() => conduit.stats().closed >= 1, 'b closed');
  const d = dial(conduit);
  d.write('x');
  assert.is(String((await once(d, 'data'))[0]), 'x');
});

test('total cap refuses over maxConnections', async () => {
  const up = echoServer(); const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit, events } = await conduitTo(port, { maxConnections: 1 });
  const a = dial(conduit); a.write('a'); await once(a, 'data');
  const got = await readAll(dial(conduit));
  assert.is(got.length, 0);
  assert.ok(events.some((e) => e.message === 'refused: listener connection cap'));
});

test('upstream down: the client is closed and the reason audited', async () => {
  const up = createServer(); const port = await listen(up); await new Promise((r) => up.close(r));
  const { conduit, events } = await conduitTo(port);
  const s = dial(conduit);
  s.write('anyone there?');
  const got = await readAll(s);
  assert.is(got.length, 0);
  await until(() => events.some((e) => e.message === 'closed'), 'close audit');
  assert.is(events.find((e) => e.message === 'closed')!.detail!.reason, 'upstream unreachable: ECONNREFUSED');
  assert.is(conduit.stats().upstreamErrors, 1);
});

test('recheck after a policy swap closes connections no longer allowed, keeps the rest', async () => {
  const up = echoServer(); const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit, events, state } = await conduitTo(port, { recheckIntervalMs: 0 });
  const s = dial(conduit);
  s.write('one'); await once(s, 'data');
  state.version = '2';
  assert.is(conduit.recheck(), 0, 'still allowed under v2');
  s.write('two'); assert.is(String((await once(s, 'data'))[0]), 'two');
  state.allowed.clear(); state.version = '3';
  const closed = readAll(s);
  assert.is(conduit.recheck(), 1);
  await closed;
  await until(() => events.some((e) => e.message === 'closed'), 'close audit');
  const revoke = events.filter((e) => e.kind === 'decision')[1];
  assert.is(revoke.decision!.decision, 'deny');
  assert.is(revoke.policyVersion, '3');
  assert.is(events.find((e) => e.message === 'closed')!.detail!.reason, 'revoked: no-conduit');
  assert.is(conduit.stats().revoked, 1);
});

test('stop() stops accepting and drains open connections', async () => {
  const up = echoServer(); const port = await listen(up); cleanups.push(() => new Promise((r) => up.close(r)));
  const { conduit } = await conduitTo(port, { drainMs: 100 });
  const s = dial(conduit);
  s.write('x'); await once(s, 'data');
  const addr = conduit.address();
  const closed = readAll(s);
  await conduit.stop();
  await closed;
  const refused = connect({ host: '127.0.0.1', port: addr.port });
  const [err] = await once(refused, 'error') as [NodeJS.ErrnoException];
  assert.is(err.code, 'ECONNREFUSED');
});

test('start() rejects when the listen address is taken', async () => {
  const taken = createServer(); const port = await listen(taken); cleanups.push(() => new Promise((r) => taken.close(r)));
  const d = fakeDecider();
  const c = createTcpConduit({ listen: { host: '127.0.0.1', port }, upstream: { host: '127.0.0.1', port: 1 }, asset: 'a', port: 1, decider: d.decider, audit: sink().audit, now: Date.now });
  try { await c.start(new AbortController().signal); assert.unreachable('should have thrown'); }
  catch (e) { assert.is((e as NodeJS.ErrnoException).code, 'EADDRINUSE'); }
});

test.run();
