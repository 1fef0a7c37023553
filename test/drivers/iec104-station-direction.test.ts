// What the station sends toward the master, checked by the proxy (drivers/iec104/station-check.ts
// and the policy's common addresses): a raw station on loopback (the driver's own Side, so its
// APCI is right) that answers a general interrogation with, besides the real answer, a monitor
// ASDU of a common address the master's conduit does not allow, a measured value of an IOA outside
// the conduit's ranges, a command confirmation nobody asked for, and a termination of a command
// never sent. The lab master sees only the real answer; each refused ASDU is audited (malformed,
// or denied unit-not-allowed / address-out-of-range) and counted. A conduit whose schedule closed
// since the master asked carries no station data either.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createIec104Proxy, encodeAsdu, answerAsdu, Cause, TypeId, UFunction, siq, sco, dco, measuredFloat } from '../../drivers/iec104';
import { Side } from '../../drivers/iec104/side';
import type { AuditEvent } from '../../drivers/types';
import { connectIec104Master } from '../../runtime/lab/iec104-master';

const FILE = 'test/fixtures/policy/iec104-substation.yaml';
const TEXT = readFileSync(FILE, 'utf8');
const SCADA = '127.10.0.2';

/** A station that answers any ASDU as an interrogation, with uninvited ASDUs around the real answer. */
async function rawStation(asked: () => void = () => undefined): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((socket: Socket) => {
    const side: Side = new Side(socket, {
      role: 'controlled', window: {}, maxQueued: 64, now: Date.now,
      handler: {
        u: (fn) => {
          if (fn !== UFunction.STARTDT_ACT) return;
          side.sendU(UFunction.STARTDT_CON);
          // Before anything was asked: the termination of a double command never sent.
          side.sendAsdu(encodeAsdu({ typeId: TypeId.C_DC_NA_1, cause: Cause.ACTIVATION_TERM, ca: 1, objects: [{ ioa: 1002, element: dco(2) }] }));
        },
        s: () => side.flush(),
        asdu: (_a, f) => {
          const raw = f.asdu();
          asked();
          side.sendAsdu(answerAsdu(raw, { cause: Cause.ACTIVATION_CON, negative: false }));
          side.sendAsdu(encodeAsdu({ typeId: TypeId.M_SP_NA_1, cause: Cause.INTERROGATED_STATION, ca: 1, objects: [{ ioa: 1000, element: siq(1) }] }));
          side.sendAsdu(encodeAsdu({ typeId: TypeId.M_SP_NA_1, cause: Cause.SPONTANEOUS, ca: 2, objects: [{ ioa: 1000, element: siq(0) }] }));
          side.sendAsdu(encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: Cause.SPONTANEOUS, ca: 1, objects: [{ ioa: 1007, element: measuredFloat(1) }, { ioa: 300, element: measuredFloat(2) }] }));
          side.sendAsdu(encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION_CON, ca: 1, objects: [{ ioa: 1003, element: sco(1) }] }));
          side.sendAsdu(answerAsdu(raw, { cause: Cause.ACTIVATION_TERM, negative: false }));
          side.ackIfDue();
        },
        refused: () => socket.destroy(),
        closed: () => socket.destroy(),
      },
    });
    socket.on('data', (chunk: Buffer) => side.reader.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => side.close());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => { server.close(() => r()); }) };
}

async function through(policyText: string, fn: (port: number, events: AuditEvent[], stats: () => Record<string, number>) => Promise<void>, clock?: { now: () => number; asked: () => void }): Promise<void> {
  const station = await rawStation(clock?.asked);
  const events: AuditEvent[] = [];
  const proxy = createIec104Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: station.port }, asset: 'rtu-104', servicePort: 2404,
    decider: new IndexDecider(compile(parsePolicy(policyText, { file: FILE }), { version: '1' })),
    audit: { record: (e) => { events.push(e); } }, now: clock?.now ?? Date.now,
  });
  await proxy.start(new AbortController().signal);
  try { await fn(proxy.address().port, events, () => ({ ...proxy.stats })); } finally {
    await proxy.stop();
    await station.close();
  }
}

test('station direction: monitor types of allowed common addresses and answers to what the master sent pass; the rest is dropped and audited', async () => {
  await through(TEXT, async (port, events, stats) => {
    const m = await connectIec104Master({ host: '127.0.0.1', port, localAddress: SCADA });
    const gi = await m.interrogate(1);
    assert.equal(gi.map((r) => [r.name, r.cause, r.ca]), [['C_IC_NA_1', 7, 1], ['M_SP_NA_1', 20, 1], ['C_IC_NA_1', 10, 1]]);
    assert.equal(m.received.map((r) => r.name), ['C_IC_NA_1', 'M_SP_NA_1', 'C_IC_NA_1'], 'nothing else reached the master');
    m.close();
    const malformed = events.filter((e) => e.kind === 'malformed').map((e) => e.message);
    assert.equal(malformed, [
      'upstream: C_DC_NA_1 cause 10 CA 1 from the station answers nothing the master sent through the gateway: dropped',
      'upstream: C_SC_NA_1 cause 7 CA 1 from the station answers nothing the master sent through the gateway: dropped',
    ]);
    const denied = events.filter((e) => e.kind === 'decision' && e.decision?.decision === 'deny');
    assert.equal(denied.map((e) => [e.decision!.reason, e.iec104!.name, e.iec104!.ca, e.message]), [
      ['unit-not-allowed', 'M_SP_NA_1', 2, 'from the station: common address 2 is not one a conduit of this master allows: dropped'],
      ['address-out-of-range', 'M_ME_NC_1', 1, 'from the station: IOA 1007,300 outside the IOAs the conduits of this master allow: dropped'],
    ]);
    assert.ok(denied.every((e) => (e.detail as { direction?: string }).direction === 'upstream'), 'station records say so');
    const s = stats();
    assert.equal([s.relayed, s.upstreamMalformed, s.upstreamDenied, s.forwarded], [3, 2, 2, 1]);
  });
});

test('station direction under a monitor-mode conduit: the common address it would deny is relayed and audited as such', async () => {
  const watched = TEXT.replace('    allow:\n      types: [interrogation, counter-interrogation', '    mode: monitor\n    allow:\n      types: [interrogation, counter-interrogation');
  await through(watched, async (port, events, stats) => {
    const m = await connectIec104Master({ host: '127.0.0.1', port, localAddress: SCADA });
    await m.interrogate(1);
    assert.equal(m.received.map((r) => [r.name, r.ca]), [['C_IC_NA_1', 1], ['M_SP_NA_1', 1], ['M_SP_NA_1', 2], ['M_ME_NC_1', 1], ['C_IC_NA_1', 1]]);
    m.close();
    const watchedOnes = events.filter((e) => e.kind === 'decision' && e.decision?.monitor === true && (e.detail as { direction?: string } | undefined)?.direction === 'upstream');
    assert.equal(watchedOnes.map((e) => [e.decision!.decision, e.decision!.conduit, e.iec104!.ca, e.message]), [
      ['allow', 'scada-switches', 2, 'monitor: would deny (unit-not-allowed) from the station: common address 2 is not one a conduit of this master allows'],
      ['allow', 'scada-switches', 1, 'monitor: would deny (address-out-of-range) from the station: IOA 1007,300 outside the IOAs the conduits of this master allow'],
    ]);
    assert.equal([stats().relayed, stats().upstreamDenied], [5, 0]);
  });
});

test('station direction after the conduit\'s schedule closed: the answer to what was asked inside it is denied (outside-schedule), nothing reaches the master', async () => {
  // Monday 16:59:59 UTC when the master asks; the station answers at 17:00, when the window has closed.
  const timed = TEXT.replace('      selectBeforeExecute: true\n', "      selectBeforeExecute: true\n    schedule: { days: [mon], from: '08:00', to: '17:00', tz: UTC }\n");
  assert.not.equal(timed, TEXT);
  let t = Date.parse('2026-11-30T16:59:59Z');
  await through(timed, async (port, events, stats) => {
    const m = await connectIec104Master({ host: '127.0.0.1', port, localAddress: SCADA });
    m.interrogate(1).catch(() => undefined); // no answer comes: it is denied
    for (let i = 0; i < 500 && stats().upstreamDenied + stats().upstreamMalformed < 7; i++) await new Promise((r) => setTimeout(r, 10));
    // A command now is refused by the gateway itself: what it relayed before the refusal is in.
    const refusal = await m.command({ ioa: 1003, value: 1, select: true });
    assert.equal([refusal.name, refusal.cause, refusal.negative], ['C_SC_NA_1', 7, true]);
    assert.equal(m.received.map((r) => r.name), ['C_SC_NA_1'], 'no station data reached the master');
    m.close();
    const asked = events.filter((e) => e.kind === 'decision' && e.iec104 !== undefined && (e.detail as { direction?: string } | undefined)?.direction !== 'upstream');
    assert.equal(asked.map((e) => [e.decision!.decision, e.decision!.conduit ?? e.decision!.reason]), [['allow', 'scada-switches'], ['deny', 'outside-schedule']]);
    const station = events.filter((e) => e.kind === 'decision' && (e.detail as { direction?: string } | undefined)?.direction === 'upstream');
    assert.equal(station.map((e) => [e.decision!.decision, e.decision!.reason, e.iec104!.name, e.iec104!.cause]), [
      ['deny', 'outside-schedule', 'C_IC_NA_1', 7], ['deny', 'outside-schedule', 'M_SP_NA_1', 20], ['deny', 'outside-schedule', 'M_SP_NA_1', 3],
      ['deny', 'outside-schedule', 'M_ME_NC_1', 3], ['deny', 'outside-schedule', 'C_IC_NA_1', 10],
    ]);
    assert.equal([stats().relayed, stats().upstreamDenied], [0, 5]);
  }, { now: () => t, asked: () => { t = Date.parse('2026-11-30T17:00:00Z'); } });
});

test.run();
