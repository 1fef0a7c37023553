/**
 * The driver registry: a protocol driver registers a listener factory under its service name and
 * the daemon needs no change to run it. Here a test registers `greeter` (a TCP service that
 * answers each connection with the decision the policy made for it): the config accepts the new
 * service, the gateway builds and starts its listener through the registry, hands it the decider,
 * the audit sink and the bus, shows it in the status, and drains it on stop. runtime/gateway.ts
 * and runtime/daemon/ never name it. Its registration also says how `audit show` prints the
 * records it writes and what its part of the compliance report is; protocol/audit/, cli/ and
 * runtime/report/ never name it either. Real sockets on loopback.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, connect, type Server, type AddressInfo } from 'node:net';
import { createGateway, builtinDrivers, DriverRegistry, type DriverRegistration } from '../../runtime/gateway';
import { labPolicy, labDir } from './gateway-fixtures';
import { AuditLog } from '../../runtime/audit/log';
import { auditShowCommandFor } from '../../cli/audit-show';
import { runCli, type Command } from '../../cli/framework';
import { decisionEvent, makeKey } from '../audit/helpers';
import { buildHistory } from '../../runtime/report/history';
import { renderMarkdown } from '../../runtime/report/render-md';
import { renderHtml } from '../../runtime/report/render-html';
import type { ComplianceReport } from '../../runtime/report/model';
import type { AuditRecord } from '../../protocol/audit/record';

const log = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The fake driver: decides each connection through the decider it was handed and says the result. */
function greeter(seen: { built: string[]; activations: number }): DriverRegistration {
  return {
    service: 'greeter',
    protocol: 'tcp',
    auditOperation: (r) => (r.source === 'greeter' ? `greet ${String(r.detail?.words)}` : undefined),
    reportSection: {
      collect: (records) => ({ greetings: records.filter((r) => r.source === 'greeter' && r.kind === 'decision').map((r) => [r.seq, r.decision!.decision]) }),
      tables: (h) => {
        const g = h.greetings as [number, string][];
        return g.length ? [{ title: 'Greetings <sent>', note: `${g.length} in all`, columns: ['Seq', 'Decision'], rows: g }] : [];
      },
    },
    create(d) {
      seen.built.push(`${d.spec.asset}/${d.spec.servicePort}`);
      d.on('policy-activated', () => { seen.activations += 1; });
      let server: Server | undefined;
      let served = 0;
      return {
        driver: {
          name: 'greeter',
          start: () => new Promise<void>((resolve, reject) => {
            server = createServer((sock) => {
              served += 1;
              const { decision } = d.decider.connect({ sourceIp: sock.remoteAddress!.replace(/^::ffff:/, ''), asset: d.spec.asset, port: d.spec.servicePort, protocol: 'tcp' }, d.now());
              d.audit.record({ kind: 'decision', at: d.now(), source: 'greeter', decision, asset: d.spec.asset, port: d.spec.servicePort, detail: { words: 2 } });
              sock.end(`${decision.decision} ${decision.conduit ?? decision.reason}\n`);
            });
            server.once('error', reject);
            server.listen(d.spec.listen.port, d.spec.listen.host, () => resolve());
          }),
          stop: () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
          address: () => server!.address() as AddressInfo,
        },
        stats: () => ({ served }),
      };
    },
  };
}

const ask = (port: number) => new Promise<string>((resolve, reject) => {
  const s = connect(port, '127.0.0.1');
  let text = '';
  s.on('data', (b) => { text += b.toString(); });
  s.on('end', () => resolve(text.trim()));
  s.on('error', reject);
});

const config = `device: gw-test
site: lab
stateDir: ./state
policyFile: policy.yaml
listeners:
  - { listen: 127.0.0.1:0, asset: historian, service: greeter, upstream: 127.0.0.1:9 }
audit: { enabled: false }
timeouts: { drainMs: 200 }
`;

test('a service registered in a test gets its listener from the gateway, which never names it', async () => {
  const lab = labDir();
  try {
    lab.write('policy.yaml', labPolicy({ writes: false, tcp: true }));
    lab.write('gateway.yaml', config);
    const seen = { built: [] as string[], activations: 0 };
    const gw = createGateway({ configFile: lab.config, log, drivers: builtinDrivers().register(greeter(seen)), statusIntervalMs: 0 });
    await gw.start(new AbortController().signal);
    try {
      const l = gw.status().listeners[0];
      assert.is(l.service, 'greeter');
      assert.is(l.state, 'up');
      assert.equal(seen.built, ['historian/443'], 'built once, for the policy service port of the asset');
      assert.is(await ask(Number(l.address!.split(':').pop())), 'allow hmi-to-historian');
      assert.ok(gw.audit.recent().some((e) => e.source === 'greeter' && e.decision?.conduit === 'hmi-to-historian'), 'its audit event reached the ring');
      // A reload that drops the conduit: the driver hears policy-activated on the bus and decides with the new policy.
      const before = seen.activations;
      lab.write('policy.yaml', labPolicy({ writes: false, tcp: false }));
      const r = await gw.reload();
      assert.ok(r.ok && r.policyChanged);
      assert.is(seen.activations, before + 1);
      assert.equal(r.listeners, { started: 0, stopped: 0, kept: 1, failed: 0 }, 'same key: the listener stays');
      assert.is(await ask(Number(l.address!.split(':').pop())), 'deny no-conduit');
      assert.equal(gw.status().listeners[0].stats, { served: 2 });
    } finally {
      await gw.stop();
    }
    assert.is(gw.status().listeners.length, 0, 'drained on stop');
  } finally {
    lab.remove();
  }
});

test('without the registration the same config is refused at the service, naming the services there are', async () => {
  const lab = labDir();
  try {
    lab.write('policy.yaml', labPolicy({ writes: false, tcp: true }));
    lab.write('gateway.yaml', config);
    const gw = createGateway({ configFile: lab.config, log, drivers: new DriverRegistry().register(greeter({ built: [], activations: 0 })).register({ ...greeter({ built: [], activations: 0 }), service: 'other' }) });
    await gw.start(new AbortController().signal);
    await gw.stop();
    const bare = createGateway({ configFile: lab.config, log });
    try {
      await bare.start(new AbortController().signal);
      assert.unreachable('started with an unknown service');
    } catch (e) {
      const err = e as { code: string; issues: { path: string; message: string }[] };
      assert.is(err.code, 'ERR_CONFIG_INVALID');
      assert.equal(err.issues.map((i) => [i.path, i.message]), [['listeners[0].service', 'must be one of modbus, tcp, dnp3, iec104, modbus-rtu-gateway, modbus-rtu, got "greeter"']]);
    }
  } finally {
    lab.remove();
  }
});

/** `audit show DIR` through the CLI with `command`: the OPERATION column of each record. */
async function operations(command: Command, dir: string): Promise<string[]> {
  const out: string[] = [];
  const code = await runCli(['audit', 'show', dir], [command], { out: (t) => out.push(t), err: (t) => out.push(t) }, new AbortController().signal);
  assert.is(code, 0, out.join('\n'));
  const lines = out[0].split('\n');
  const at = lines[0].indexOf('OPERATION'), end = lines[0].indexOf('DECISION');
  return lines.slice(1).map((l) => l.slice(at, end).trim());
}

test('audit show prints a registered service\'s records as its registration formats them, built-in ones as before', async () => {
  const lab = labDir();
  try {
    const dir = join(lab.dir, 'audit');
    const log = await AuditLog.open({ dir, device: 'gw-test', key: makeKey(), flood: false, now: () => Date.parse('2026-03-01T10:00:00Z') });
    const at = Date.parse('2026-03-01T10:00:00Z');
    log.record(decisionEvent(0, { at }));
    log.record({ kind: 'decision', at: at + 1, source: 'greeter', asset: 'historian', port: 443, protocol: 'tcp', detail: { words: 2 }, decision: { decision: 'allow', conduit: 'hmi-to-historian', reason: null, identity: 'hmi-1' } });
    log.record({ kind: 'decision', at: at + 2, source: 'dnp3', asset: 'rtu', port: 20000, protocol: 'dnp3',
      dnp3: { function: 1, name: 'READ', source: 3, destination: 10, seq: 0, objects: ['g30v0 q6'] }, decision: { decision: 'allow', conduit: 'scada-to-rtu', reason: null, identity: 'scada' } });
    await log.close();
    const shown = async (drivers: DriverRegistry) => (await operations(auditShowCommandFor(drivers), dir)).slice(1, 4);
    assert.equal(await shown(builtinDrivers()), ['fc3 unit 1 @0+10', 'tcp/443', 'dnp3 READ 3→10 g30v0 q6'], 'without the registration: its protocol/port');
    assert.equal(await shown(builtinDrivers().register(greeter({ built: [], activations: 0 }))), ['fc3 unit 1 @0+10', 'greet 2', 'dnp3 READ 3→10 g30v0 q6'], 'with it: formatted by the greeter');
    assert.equal(await shown(new DriverRegistry()), ['modbus/502', 'tcp/443', 'dnp3/20000'], 'no registrations: no protocol formats its records');
  } finally {
    lab.remove();
  }
});

test('a registered service\'s report section is counted and rendered in both formats; without it the report is the built-in one', () => {
  const at = Date.parse('2026-03-01T10:00:00Z');
  const decision = { decision: 'allow' as const, conduit: 'hmi-to-historian', reason: null, identity: 'hmi-1' };
  const records = [
    { ...decisionEvent(0, { at }), seq: 1 },
    { kind: 'decision', at: at + 1, seq: 2, source: 'greeter', asset: 'historian', port: 443, protocol: 'tcp', decision },
    { kind: 'decision', at: at + 2, seq: 3, source: 'greeter', asset: 'historian', port: 443, protocol: 'tcp', decision: { ...decision, decision: 'deny' as const, conduit: null, reason: 'no-conduit' as const } },
  ] as unknown as AuditRecord[];
  const report = (sections: ReturnType<DriverRegistry['reportSections']>): ComplianceReport => ({
    title: 't', generatedAt: at, policy: { file: 'p.yaml', sha256: '0'.repeat(64), source: 'file', version: null }, audit: { dir: 'a', device: null },
    period: { from: null, to: null }, inventory: { site: 'lab', zones: [], zoneConduits: [], paths: [], accessPoints: [], vendorPaths: [], quarantine: [], onExpiry: 'keep',
      counts: { zones: 0, assets: 0, identities: 0, conduits: 0, modbusPaths: 0, dnp3Paths: 0, iec104Paths: 0, tcpPaths: 0, monitorPaths: 0 } } as unknown as ComplianceReport['inventory'],
    history: buildHistory({ records, sections }),
  });
  const withGreeter = builtinDrivers().register(greeter({ built: [], activations: 0 })).reportSections();
  const r = report(withGreeter);
  assert.equal((r.history as unknown as { greetings: unknown }).greetings, [[2, 'allow'], [3, 'deny']]);
  assert.is(r.history!.dnp3, null, 'the built-in sections still counted (no DNP3 records)');
  const md = renderMarkdown(r, withGreeter);
  assert.ok(md.includes('### Greetings <sent> (2 in all)\n\n| Seq | Decision |\n| --- | --- |\n| 2 | allow |\n| 3 | deny |\n'), md);
  const html = renderHtml(r, withGreeter);
  assert.ok(html.includes('<h3>Greetings &lt;sent&gt; <span class="note">2 in all</span></h3><table><thead><tr><th>Seq</th><th>Decision</th></tr></thead><tbody>\n<tr><td class="n">2</td><td>allow</td></tr>'), 'escaped, numbers right-aligned');
  const plain = report(builtinDrivers().reportSections());
  assert.is((plain.history as unknown as { greetings?: unknown }).greetings, undefined);
  assert.not.ok(renderMarkdown(plain).includes('Greetings'));
  assert.is(renderMarkdown(plain), renderMarkdown(plain, builtinDrivers().reportSections()), 'the renderers\' default is the built-in registrations\' sections');
});

test('the daemon names no service: gateway.ts, runtime/daemon/ and the report history hold no service names, the registrations do', () => {
  const files = ['runtime/gateway.ts', ...readdirSync('runtime/daemon').map((f) => join('runtime/daemon', f)), 'runtime/report/history.ts', 'runtime/report/section.ts'];
  for (const f of files) {
    const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    const names = text.match(/\b(modbus|dnp3|iec104|rtu|tcp-conduit)\b|'tcp'/gi);
    assert.is(names, null, `${f} names ${names}`);
  }
  assert.equal(builtinDrivers().services().sort(), ['dnp3', 'iec104', 'modbus', 'modbus-rtu', 'modbus-rtu-gateway', 'tcp']);
  assert.throws(() => builtinDrivers().register(greeter({ built: [], activations: 0 })).register(greeter({ built: [], activations: 0 })), /registered already/);
});

test.run();
