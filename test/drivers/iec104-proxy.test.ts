// The IEC 104 proxy between the lab master and the lab RTU (runtime/lab/iec104-*.ts: our own
// encoder-based peers, both real TCP peers on loopback, since Debian packages no 104 station;
// the codec they share is checked against tshark and scapy in iec104-tshark/-scapy.test.ts).
// Masters bind to 127.10.0.x so the policy's identities apply. One decision per ASDU; denied
// ASDUs answered locally with the P/N bit (7, 45..47) and never seen by the RTU; the master's
// window keeps moving past many refusals; select before execute; broken sequence closing only
// its own connection; audit fields.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createIec104Proxy, Cause, TypeId, encodeAsdu, encodeIFrame, encodeUFrame, UFunction, qoi, type Iec104Proxy, type Iec104ProxyOptions } from '../../drivers/iec104';
import type { AuditEvent } from '../../drivers/types';
import { startIec104Rtu, type Iec104Rtu } from '../../runtime/lab/iec104-rtu';
import { connectIec104Master } from '../../runtime/lab/iec104-master';

const FILE = 'test/fixtures/policy/iec104-substation.yaml';
const text = readFileSync(FILE, 'utf8');
const SCADA = '127.10.0.2', HMI = '127.10.0.5', ENG = '127.10.0.7';

async function setup(policyText = text, extra: Partial<Iec104ProxyOptions> = {}): Promise<{ rtu: Iec104Rtu; proxy: Iec104Proxy; events: AuditEvent[]; port: number; done: () => Promise<void> }> {
  const rtu = await startIec104Rtu({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const events: AuditEvent[] = [];
  const proxy = createIec104Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtu.address().port }, asset: 'rtu-104', servicePort: 2404,
    decider: new IndexDecider(compile(parsePolicy(policyText, { file: FILE }), { version: '7' })), audit: { record: (e) => { events.push(e); } }, now: Date.now, ...extra,
  });
  await proxy.start(new AbortController().signal);
  return { rtu, proxy, events, port: proxy.address().port, done: async () => { await proxy.stop(); await rtu.close(); } };
}

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
};

test('interrogation and select/execute of a breaker pass; audit names type, cause, CA, IOA and values', async () => {
  const s = await setup();
  const m = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: SCADA });
  const gi = await m.interrogate();
  assert.equal(gi.map((r) => [r.name, r.cause]), [['C_IC_NA_1', 7], ['M_SP_NA_1', 20], ['M_ME_NC_1', 20], ['C_IC_NA_1', 10]]);
  const [sel, exe] = await m.selectExecute({ ioa: 1003, value: 1 });
  assert.equal([sel.cause, sel.negative, exe.cause, exe.negative], [7, false, 7, false]);
  await until(() => s.rtu.operated.length === 1, 'the breaker');
  assert.equal(s.rtu.operated, ['C_SC_NA_1 1003 1']);
  assert.equal(s.rtu.received, ['C_IC_NA_1 act 0', 'C_SC_NA_1 act 1003', 'C_SC_NA_1 act 1003']);
  const ops = s.events.filter((e) => e.kind === 'decision' && e.iec104);
  assert.equal(ops.map((e) => [e.iec104!.name, e.decision!.decision, e.decision!.conduit]), [
    ['C_IC_NA_1', 'allow', 'scada-switches'], ['C_SC_NA_1', 'allow', 'scada-switches'], ['C_SC_NA_1', 'allow', 'scada-switches'],
  ]);
  assert.equal([ops[1].iec104!.class, ops[1].iec104!.cause, ops[1].iec104!.ca, ops[1].iec104!.ioa, ops[1].iec104!.values, ops[1].iec104!.select], ['command', 6, 1, [1003], [1], [true]]);
  assert.equal(ops[2].iec104!.select, [false]);
  assert.is(ops[2].policyVersion, '7');
  assert.is(ops[2].protocol, 'iec104');
  m.close();
  await s.done();
});

test('denied ASDUs are answered locally with the P/N bit; the RTU never sees them', async () => {
  const s = await setup();
  const hmi = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: HMI });
  const scada = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: SCADA });
  const eng = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: ENG });
  const direct = await hmi.command({ ioa: 1003, value: 1 });
  assert.equal([direct.cause, direct.negative], [Cause.ACTIVATION_CON, true], 'a command from the HMI: negative activation confirmation');
  const noSelect = await scada.command({ ioa: 1003, value: 1 });
  assert.equal([noSelect.cause, noSelect.negative], [Cause.ACTIVATION_CON, true], 'an execute without its select');
  const badIoa = await scada.command({ ioa: 1009, value: 1, select: true });
  assert.equal([badIoa.cause, badIoa.negative], [Cause.UNKNOWN_IOA, true]);
  const badCa = await scada.command({ ioa: 1003, value: 1, select: true, ca: 2 });
  assert.equal([badCa.cause, badCa.negative], [Cause.UNKNOWN_COMMON_ADDRESS, true]);
  const badCause = await scada.send(encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.REQUEST, ca: 1, objects: [{ ioa: 0, element: qoi() }] }));
  assert.equal([badCause.cause, badCause.negative], [Cause.UNKNOWN_CAUSE, true]);
  const badValue = await eng.command({ type: TypeId.C_SE_NC_1, ioa: 2001, value: 250 });
  assert.equal([badValue.cause, badValue.negative], [Cause.ACTIVATION_CON, true], 'a set-point above values.max');
  const okValue = await eng.command({ type: TypeId.C_SE_NC_1, ioa: 2001, value: 42.5 });
  assert.equal([okValue.cause, okValue.negative], [Cause.ACTIVATION_CON, false]);
  const unknownType = await scada.send(Buffer.from([99, 1, 6, 0, 1, 0, 0, 0, 0, 1]));
  assert.equal([unknownType.cause, unknownType.negative], [Cause.UNKNOWN_TYPE, true]);
  await until(() => s.rtu.operated.length === 1, 'the set-point');
  assert.equal(s.rtu.received, ['C_SE_NC_1 act 2001'], 'only the allowed set-point reached the RTU');
  assert.equal(s.rtu.setpoints[1], 42.5);
  const denied = s.events.filter((e) => e.kind === 'decision' && e.iec104 && e.decision!.decision === 'deny').map((e) => e.decision!.reason);
  assert.equal(denied, ['function-not-allowed', 'select-required', 'address-out-of-range', 'unit-not-allowed', 'cause-not-allowed', 'value-out-of-range', 'malformed']);
  assert.is(s.proxy.stats.denied, 7);
  for (const m of [hmi, scada, eng]) m.close();
  await s.done();
});

test('a select the RTU refuses is forgotten: the execute that follows is refused by the gateway, not sent', async () => {
  const s = await setup();
  const m = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: SCADA });
  const sel = await m.command({ type: TypeId.C_DC_NA_1, ioa: 1002, value: 3, select: true });
  assert.equal([sel.cause, sel.negative], [Cause.ACTIVATION_CON, true], 'DCS 3 is not permitted: the RTU refuses the select');
  const exe = await m.command({ type: TypeId.C_DC_NA_1, ioa: 1002, value: 3 });
  assert.equal([exe.cause, exe.negative], [Cause.ACTIVATION_CON, true]);
  assert.equal(s.rtu.received, ['C_DC_NA_1 act 1002'], 'only the select reached the RTU');
  assert.is(s.events.filter((e) => e.decision?.reason === 'select-required').length, 1);
  m.close();
  await s.done();
});

test('a refused execute does not spend its select: the retry, once allowed, is forwarded', async () => {
  let clock = 1_000_000;
  const s = await setup(text, { now: () => clock, limits: () => ({ perSecond: 1, burst: 1 }) });
  const m = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: SCADA });
  const sel = await m.command({ ioa: 1003, value: 1, select: true });
  assert.equal([sel.cause, sel.negative], [Cause.ACTIVATION_CON, false], 'the select passes (the one token)');
  const refused = await m.command({ ioa: 1003, value: 1 });
  assert.equal([refused.cause, refused.negative], [Cause.ACTIVATION_CON, true], 'the execute is rate-limited');
  clock += 1_000;
  const exe = await m.command({ ioa: 1003, value: 1 });
  assert.equal([exe.cause, exe.negative], [Cause.ACTIVATION_CON, false], 'the retry matched the select the refusal left');
  assert.equal(s.rtu.received, ['C_SC_NA_1 act 1003', 'C_SC_NA_1 act 1003'], 'the select and one execute reached the RTU');
  assert.equal(s.events.filter((e) => e.kind === 'decision' && e.decision?.decision === 'deny').map((e) => e.decision!.reason), ['rate-limited']);
  clock += 1_000;
  const again = await m.command({ ioa: 1003, value: 1 });
  assert.equal([again.cause, again.negative], [Cause.ACTIVATION_CON, true], 'the forwarded execute spent it');
  assert.equal(s.events.filter((e) => e.decision?.reason === 'select-required').length, 1);
  m.close();
  await s.done();
});

test("the master's window never stalls: 100 refused commands, each answered, the link still up", async () => {
  const s = await setup();
  const hmi = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: HMI });
  for (let i = 0; i < 100; i++) {
    const r = await hmi.command({ ioa: 1000 + (i % 8), value: 1 });
    assert.ok(r.negative, `refusal ${i}`);
  }
  const gi = await hmi.interrogate();
  assert.is(gi.at(-1)!.cause, Cause.ACTIVATION_TERM, 'an allowed interrogation after 100 refusals');
  assert.is(s.proxy.stats.connections, 1);
  assert.equal(s.rtu.received, ['C_IC_NA_1 act 0']);
  hmi.close();
  await s.done();
});

test('spontaneous data from the RTU is relayed to the master; STOPDT and STARTDT pass through and the link carries on', async () => {
  const s = await setup();
  const m = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: HMI });
  await m.interrogate();
  s.rtu.tick();
  await until(() => m.received.some((r) => r.cause === Cause.SPONTANEOUS), 'spontaneous measured values');
  assert.ok(s.proxy.stats.relayed >= 4);
  await m.restart();
  const gi = await m.interrogate();
  assert.is(gi.at(-1)!.cause, Cause.ACTIVATION_TERM, 'an interrogation after STOPDT and STARTDT');
  m.close();
  await s.done();
});

test('a sequence gap closes only its own connection; monitor mode forwards what it would deny', async () => {
  const s = await setup(text.replace('    allow: { types: [interrogation] }', '    mode: monitor\n    allow: { types: [interrogation] }'));
  const good = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: SCADA });
  const bad = connect({ host: '127.0.0.1', port: s.port, localAddress: HMI });
  await new Promise((r) => bad.once('connect', r));
  bad.write(encodeUFrame(UFunction.STARTDT_ACT));
  bad.write(encodeIFrame({ sendSeq: 5, recvSeq: 0, asdu: encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 0, element: qoi() }] }) }));
  await new Promise((r) => bad.once('close', r));
  await until(() => s.events.some((e) => e.kind === 'malformed' && /N\(S\)=5, expected 0/.test(e.message ?? '')), 'the audited gap');
  const gi = await good.interrogate();
  assert.is(gi.at(-1)!.cause, Cause.ACTIVATION_TERM, 'the other connection carries on');
  const hmi = await connectIec104Master({ host: '127.0.0.1', port: s.port, localAddress: HMI });
  const r = await hmi.command({ ioa: 1002, value: 1 });
  assert.is(r.negative, false, 'monitor mode forwards');
  await until(() => s.rtu.operated.includes('C_SC_NA_1 1002 1'), 'the monitored command');
  const mon = s.events.find((e) => e.kind === 'decision' && e.decision?.monitor === true)!;
  assert.equal([mon.decision!.reason, mon.message], ['function-not-allowed', 'monitor: would deny (function-not-allowed)']);
  good.close(); hmi.close();
  await s.done();
});

test('bytes that can start no APDU are refused at once, not when the frame timeout fires (10 minutes here)', async () => {
  // Each stream is sent and then left open: the proxy must close the connection and audit it
  // from the bytes alone (a bad start byte, a length outside 4..253), never on a timer.
  const s = await setup(text, { timeouts: { frameMs: 600_000 } });
  const startdt = encodeUFrame(UFunction.STARTDT_ACT);
  const cases: [string, Buffer[], RegExp][] = [
    ['one bad start byte', [Buffer.from([0x00])], /^APDU does not start with 68 \(got 00\)$/],
    ['STARTDT act, then 5 garbage bytes', [startdt, Buffer.from('000646fcda', 'hex')], /^APDU does not start with 68 \(got 00\)$/],
    ['68 and a length below 4', [Buffer.from([0x68, 0x03])], /^APDU length 3 is outside 4\.\.253$/],
    ['68, then a length above 253 in a later write', [Buffer.from([0x68]), Buffer.from([0xfe])], /^APDU length 254 is outside 4\.\.253$/],
    ['STARTDT act and one bad byte in the same write', [Buffer.concat([startdt, Buffer.from([0x05])])], /^APDU does not start with 68 \(got 05\)$/],
  ];
  try {
    for (const [what, writes, re] of cases) {
      const from = s.events.length; // this connection's records come after (a source port can come round again)
      const c = connect({ host: '127.0.0.1', port: s.port, localAddress: SCADA });
      c.on('error', () => undefined);
      c.on('data', () => undefined);
      const closed = new Promise<void>((r) => c.on('close', () => r()));
      await new Promise((r) => c.once('connect', r));
      const port = c.localPort;
      for (const w of writes) { c.write(w); await new Promise((r) => setTimeout(r, 20)); } // separate reads, most likely
      const mine = (): AuditEvent[] => s.events.slice(from).filter((e) => e.srcPort === port);
      const audited = (): AuditEvent | undefined => mine().find((e) => e.kind === 'malformed');
      const deadline = new Promise<string>((r) => setTimeout(() => r('timeout'), 20_000).unref());
      const outcome = await Promise.race([closed.then(() => until(() => audited() !== undefined, `the malformed record of ${what}`)).then(() => 'refused'), deadline]);
      if (outcome !== 'refused') {
        c.destroy();
        assert.unreachable(`${what}: connection still open, no malformed record after 20 s (the proxy waits for a full APCI or the frame timeout?); its records: ${JSON.stringify(mine().map((e) => e.message))}`);
      }
      assert.match(audited()!.message!, re, what);
      assert.ok(mine().some((e) => e.kind === 'connection' && /^closed/.test(e.message ?? '')), `${what}: the close is recorded: ${JSON.stringify(mine().map((e) => e.message))}`);
    }
    assert.is(s.proxy.stats.malformed, cases.length);
  } finally {
    await s.done();
  }
});

test('the timers on a clock the test turns: t3 idle sends the master TESTFR act, t1 closes a master that never answers', async () => {
  let clock = 1_000_000;
  const rtu = await startIec104Rtu({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const events: AuditEvent[] = [];
  const proxy = createIec104Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtu.address().port }, asset: 'rtu-104', servicePort: 2404,
    decider: new IndexDecider(compile(parsePolicy(text, { file: FILE }))), audit: { record: (e) => { events.push(e); } }, now: () => clock,
    timers: { setInterval: () => null, clearInterval: () => undefined },
  });
  await proxy.start(new AbortController().signal);
  const c = connect({ host: '127.0.0.1', port: proxy.address().port, localAddress: HMI });
  let got = Buffer.alloc(0);
  c.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
  const closed = new Promise((r) => c.once('close', r));
  await new Promise((r) => c.once('connect', r));
  c.write(encodeUFrame(UFunction.STARTDT_ACT));
  const STARTDT_CON = encodeUFrame(UFunction.STARTDT_CON), TESTFR_ACT = encodeUFrame(UFunction.TESTFR_ACT);
  await until(() => got.includes(STARTDT_CON), 'STARTDT con relayed from the RTU');
  clock += 20_000; // t3
  proxy.sweep();
  await until(() => got.includes(TESTFR_ACT), 'TESTFR act after t3');
  clock += 15_000; // t1 on the unanswered TESTFR act
  proxy.sweep();
  await closed;
  assert.ok(events.some((e) => e.kind === 'connection' && e.message === 'master: t1 expired: the peer did not acknowledge'), events.map((e) => e.message).join('\n'));
  assert.is(proxy.stats.t1Expired, 1);
  await proxy.stop();
  await rtu.close();
});

test('a connection the policy refuses is closed before the RTU is dialled', async () => {
  const s = await setup();
  const c = connect({ host: '127.0.0.1', port: s.port, localAddress: '127.10.0.99' });
  c.on('error', () => undefined);
  await new Promise((r) => c.once('close', r));
  assert.is(s.proxy.stats.refused, 1);
  assert.ok(s.events.some((e) => e.kind === 'connection' && e.message === 'refused: no-conduit'));
  await s.done();
});

test.run();
