// The records the shared listener (drivers/proxy-listener.ts) writes for the Modbus proxy and for
// the DNP3 proxy keep each driver's own field order: the audit log stores a record's fields in
// the order the driver gave them (protocol/audit/record.ts) and `audit show --json` prints them so.
// The Modbus proxy had its own listener before it shared this one ('client-first': the client's
// address, then asset, port and protocol; no protocol on its driver records); the DNP3 and IEC 104
// proxies put asset, port and protocol first. A real upstream TCP server, real client sockets over
// loopback, and a small Decider written here (the real engine is exercised elsewhere).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createModbusProxy } from '../../drivers/modbus-tcp';
import { createDnp3Proxy } from '../../drivers/dnp3';
import type { AuditEvent, Driver } from '../../drivers/types';
import type { ConnectQuery, Decider, Decision, Scope } from '../../policy/types';
import { freePort } from '../helpers/ports';

class ConnectDecider implements Decider {
  deny = false;
  connect(_query: ConnectQuery): { scope: Scope; decision: Decision } {
    const decision: Decision = this.deny
      ? { decision: 'deny', conduit: null, reason: 'no-conduit', identity: null }
      : { decision: 'allow', conduit: 'c1', reason: null, identity: 'hmi-1' };
    return { scope: { policyVersion: 'v1', identity: 'hmi-1' }, decision };
  }
  modbus(): Decision { return { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' }; }
  dnp3(): Decision { return { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' }; }
}

const until = async (cond: () => boolean, ms = 3_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

async function listen(server: Server): Promise<number> {
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port }, resolve));
  return port;
}

/** Starts the proxy, connects one allowed and one denied client, stops it: the keys of each record the listener wrote. */
async function recordKeys(make: (o: { listen: number; upstream: number; decider: ConnectDecider; events: AuditEvent[] }) => Driver & { address(): { port: number } }): Promise<Record<string, string[]>> {
  const held: Socket[] = [];
  const upstream = createServer((s) => { held.push(s); s.on('error', () => undefined); });
  const decider = new ConnectDecider();
  const events: AuditEvent[] = [];
  const proxy = make({ listen: await freePort(), upstream: await listen(upstream), decider, events });
  try {
    await proxy.start(new AbortController().signal);
    const dial = async (): Promise<Socket> => {
      const c = connect({ host: '127.0.0.1', port: proxy.address().port });
      c.on('error', () => undefined);
      await new Promise<void>((resolve) => c.once('connect', () => resolve()));
      return c;
    };
    const allowed = await dial();
    await until(() => events.some((e) => e.message === 'open'));
    decider.deny = true;
    const denied = await dial();
    await until(() => events.some((e) => e.message === 'refused: no-conduit'));
    allowed.destroy();
    denied.destroy();
  } finally {
    await proxy.stop();
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
  const keys = (pick: (e: AuditEvent) => boolean, what: string): string[] => {
    const e = events.find(pick);
    assert.ok(e, `no ${what} record in ${JSON.stringify(events.map((x) => x.message))}`);
    return Object.keys(e as object);
  };
  return {
    listening: keys((e) => e.kind === 'driver' && /^listening on /.test(e.message ?? ''), 'listening'),
    allow: keys((e) => e.kind === 'decision' && e.decision?.decision === 'allow', 'allowed connect decision'),
    open: keys((e) => e.kind === 'connection' && e.message === 'open', 'open'),
    deny: keys((e) => e.kind === 'decision' && e.decision?.decision === 'deny', 'denied connect decision'),
    refused: keys((e) => e.kind === 'connection' && e.message === 'refused: no-conduit', 'refused'),
    stopped: keys((e) => e.kind === 'driver' && e.message === 'stopped', 'stopped'),
  };
}

test('Modbus proxy: the client first, then asset, port and protocol; driver records without protocol', async () => {
  const keys = await recordKeys(({ listen, upstream, decider, events }) => createModbusProxy({
    listen: { host: '127.0.0.1', port: listen }, upstream: { host: '127.0.0.1', port: upstream },
    asset: 'plc-1', servicePort: 502, decider, audit: { record: (e) => { events.push(e); } }, now: Date.now,
  }));
  assert.equal(keys, {
    listening: ['kind', 'at', 'source', 'asset', 'port', 'message'],
    allow: ['kind', 'at', 'source', 'decision', 'policyVersion', 'src', 'srcPort', 'asset', 'port', 'protocol', 'message'],
    open: ['kind', 'at', 'source', 'policyVersion', 'src', 'srcPort', 'asset', 'port', 'protocol', 'message', 'detail'],
    deny: ['kind', 'at', 'source', 'decision', 'policyVersion', 'src', 'srcPort', 'asset', 'port', 'protocol', 'message'],
    refused: ['kind', 'at', 'source', 'src', 'srcPort', 'asset', 'port', 'protocol', 'message'],
    stopped: ['kind', 'at', 'source', 'asset', 'port', 'message', 'detail'],
  });
});

test('DNP3 proxy: asset, port and protocol first, then the client', async () => {
  const keys = await recordKeys(({ listen, upstream, decider, events }) => createDnp3Proxy({
    listen: { host: '127.0.0.1', port: listen }, upstream: { host: '127.0.0.1', port: upstream },
    asset: 'rtu-1', servicePort: 20000, decider, audit: { record: (e) => { events.push(e); } }, now: Date.now,
  }));
  assert.equal(keys, {
    listening: ['kind', 'at', 'source', 'asset', 'port', 'protocol', 'message'],
    allow: ['kind', 'at', 'source', 'asset', 'port', 'protocol', 'decision', 'policyVersion', 'src', 'srcPort', 'message'],
    open: ['kind', 'at', 'source', 'asset', 'port', 'protocol', 'policyVersion', 'src', 'srcPort', 'message', 'detail'],
    deny: ['kind', 'at', 'source', 'asset', 'port', 'protocol', 'decision', 'policyVersion', 'src', 'srcPort', 'message'],
    refused: ['kind', 'at', 'source', 'asset', 'port', 'protocol', 'src', 'srcPort', 'message'],
    stopped: ['kind', 'at', 'source', 'asset', 'port', 'protocol', 'message', 'detail'],
  });
});

test.run();
