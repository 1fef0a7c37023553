// The fleet console in Debian's Chromium (playwright-core) against a test site started here: a
// real mosquitto, a pymodbus PLC simulator, two real gateways (createGateway, as the e2e tests
// run the daemon) with signed policy, the real collector writing the file store, and
// `fleet serve`'s startConsole. Flow: log in with password + TOTP, see both gateways online,
// upload a signed bundle and watch its rollout reach 100% (server-sent events refresh the page),
// send a Modbus write the policy denies and find it in the denials chart and in the search, its
// chain verifying. The test polls pages; it never sleeps fixed times nor asserts on time.
// Screenshots: .out/screenshots/fleet-console-*.png.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGateway } from '../../../runtime/gateway';
import { startMosquitto, skipReason } from '../../helpers/mosquitto';
import { RawClient, adu, pdus, pymodbusMissing, startPymodbusServer } from '../../helpers/modbus';
import { connectBroker, closeBroker } from '../../../fleet/broker';
import { publishBundle } from '../../../fleet/publish';
import { startCollector } from '../../../fleet/audit-collect-mqtt';
import { parseFleetConfig } from '../../../fleet/console/config';
import { startConsole } from '../../../fleet/console/start';
import { addUser } from '../../../fleet/console/users';
import { createSemaphore } from '../../../protocol/web/semaphore';
import { totpAt } from '../../../protocol/web/totp';
import { cli, labPolicy, makeLab, waitFor, type Cleanup } from '../../e2e/helpers';
import { opensslMissing, selfSigned, PASSWORD } from './rig';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const skip = skipReason() ?? opensslMissing ?? pymodbusMissing() ?? (chromium ? null : 'Chromium is not installed (/usr/bin/chromium)');
const GWS = ['gw-1', 'gw-2'];

function gatewayConfig(device: string, o: { broker: string; plc: number }): string {
  return `device: ${device}
site: lab
stateDir: ./state-${device}
trustRoot: { file: keys/root.json }
mqtt: { url: "${o.broker}", keepalive: 5 }
audit: { flushDelayMs: 5, checkpointIntervalMs: 500 }
telemetry: { intervalMs: 5000 }
listeners:
  - { listen: 127.0.0.1:0, asset: plc-1, service: modbus, upstream: 127.0.0.1:${o.plc} }
log: { level: warn }
timeouts: { drainMs: 200 }
`;
}

async function sign(lab: Awaited<ReturnType<typeof makeLab>>, name: string, version: number, tag?: string): Promise<string> {
  const src = lab.write(`${name}.yaml`, labPolicy({ writes: false, tag }));
  const r = await cli('fleet', 'sign', src, '--key', lab.p('keys', 'policy-1.key'), '--version', String(version), '--targets', GWS.join(','), '--expires', '30d', '--out', lab.p(`${name}.bundle`));
  if (r.code !== 0) throw new Error(`fleet sign: ${r.err}`);
  return lab.p(`${name}.bundle`);
}

/** The test site: broker, PLC, two gateways enforcing signed v1, the collector, the console and its operator. */
async function startSite() {
  const broker = await startMosquitto();
  cleanups.push(() => broker.close());
  const plc = await startPymodbusServer();
  cleanups.push(() => plc.stop());
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  const v1 = await sign(lab, 'v1', 1);
  const v2 = await sign(lab, 'v2', 2, 'v2');

  const collector = await startCollector({ out: lab.p('collected', 'lab'), site: 'lab', broker: { url: broker.url } });
  cleanups.push(() => collector.close());
  const gateways = [];
  for (const device of GWS) {
    const cfg = lab.write(`${device}.yaml`, gatewayConfig(device, { broker: broker.url, plc: plc.port }));
    const gw = createGateway({ configFile: cfg, log: quiet });
    await gw.start(new AbortController().signal);
    cleanups.push(() => gw.stop());
    gateways.push(gw);
  }
  const fleet = await connectBroker({ url: broker.url });
  cleanups.push(() => closeBroker(fleet));
  const first = await publishBundle({ client: fleet, site: 'lab', all: true, bytes: await import('node:fs').then((f) => f.readFileSync(v1)), wait: 2, timeoutMs: 30_000 });
  assert.ok(first.rollout!.done, 'both gateways enforce v1');

  const tls = selfSigned(lab.dir);
  const limiter = createSemaphore({ limit: 1 });
  const made = await addUser({ file: lab.p('console-users.json'), name: 'olga', role: 'operator', password: PASSWORD, limiter });
  writeFileSync(lab.p('fleet.yaml'), `listen: 127.0.0.1:0
tls: { cert: ${tls.cert}, key: ${tls.key} }
users: console-users.json
sites: [lab]
mqtt: { url: "${broker.url}" }
store: { kind: files, dir: collected }
`);
  const logLines: string[] = [];
  const consoleApp = await startConsole({ config: parseFleetConfig(await import('node:fs').then((f) => f.readFileSync(lab.p('fleet.yaml'), 'utf8')), { file: lab.p('fleet.yaml') }), log: (l) => logLines.push(l), auditPollMs: 300 });
  cleanups.push(() => consoleApp.stop());
  const base = `https://127.0.0.1:${consoleApp.server.address().port}`;

  return { lab, gateways, v2, made, base, logLines };
}

test('log in, see the gateways, publish and watch the rollout, find a denial in the chart and the search', async () => {
  if (skip) { console.log(`SKIP test/fleet/console/console-browser: ${skip}`); return; }
  const { gateways, v2, made, base, logLines } = await startSite();
  const { chromium: pw } = await import('playwright-core');
  const shots = join(process.cwd(), '.out', 'screenshots');
  mkdirSync(shots, { recursive: true });
  const browser = await pw.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  const shot = async (name: string) => { const p = join(shots, `fleet-console-${name}.png`); await page.screenshot({ path: p, fullPage: true }); console.log(`screenshot: ${p}`); };

  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login$/);
  await page.fill('input[name=user]', 'olga');
  await page.fill('input[name=password]', PASSWORD);
  await page.fill('input[name=totp]', totpAt(made.totp, Date.now()));
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
  assert.match(await page.textContent('#who') ?? '', /olga \(operator\)/);
  for (const d of GWS) await page.waitForSelector(`#gw-lab-${d} >> text=online`, { timeout: 20_000 });
  assert.match(await page.textContent('#summary') ?? '', /2 gateways, 2 online/);
  await shot('fleet');
  await page.setViewportSize({ width: 768, height: 1024 }); // a tablet held upright: the table scrolls, the nav wraps
  await shot('fleet-tablet');
  assert.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'), 'no page-wide sideways scroll on a tablet: wide tables scroll in their own box');
  await page.setViewportSize({ width: 1024, height: 768 });

  await page.goto(`${base}/rollouts`);
  await page.setInputFiles('input[name=bundle]', v2);
  await Promise.all([page.waitForNavigation(), page.click('#publish button[type=submit]')]);
  assert.match(page.url(), /\/rollout\?id=\d+$/, `after publishing: ${page.url()}: ${(await page.textContent('body'))?.slice(0, 300)}`);
  await page.waitForSelector('#progress[data-matched="2"][data-wanted="2"]', { timeout: 30_000 });
  assert.match(await page.textContent('#progress') ?? '', /100%/);
  await shot('rollout');

  const port = Number(gateways[0].status().listeners[0].address!.split(':').pop());
  const mb = await RawClient.open(port);
  cleanups.push(() => mb.close());
  assert.equal((await mb.request(adu(1, 1, pdus.read(3, 0, 2))))!.registers, [1000, 1001], 'reads pass to the PLC');
  assert.is((await mb.request(adu(2, 1, pdus.writeSingle(6, 10, 7))))!.exception, 1, 'the write is denied');
  mb.close();

  await page.goto(`${base}/denials`);
  await waitFor(async () => {
    const n = Number(await page.textContent('#denials-total strong'));
    if (n >= 1) return true;
    await page.reload();
    return false;
  }, 'the denial in the chart', 30_000);
  assert.ok(await page.$('#denials-chart rect.seg'), 'a bar segment is drawn');
  await shot('denials');
  await Promise.all([page.waitForURL(/reason=function-not-allowed/), page.click('.legend a >> text=function-not-allowed')]);
  assert.match(await page.textContent('#denials-total') ?? '', /reason function-not-allowed/);

  await page.goto(`${base}/search?decision=deny&device=gw-1`);
  await waitFor(async () => {
    const text = await page.textContent('#records') ?? '';
    if (/function-not-allowed/.test(text) && /verifies/.test(text)) return true;
    await page.reload();
    return false;
  }, 'the denial in the search, its chain verifying', 30_000);
  assert.match(await page.textContent('#records tbody') ?? '', /gw-1[\s\S]*plc-1[\s\S]*modbus:6[\s\S]*deny/);
  await shot('search');
  // The gateway page lists the listeners from the gateway's status document (with its bound address), not from its decisions.
  await page.goto(`${base}/gateway?site=lab&device=gw-1`);
  const bound = gateways[0].status().listeners[0].address!;
  assert.match(await page.textContent('#listeners tbody') ?? '', new RegExp(`${bound.replace(/[.]/g, '\\.')}\\s*plc-1\\s*modbus:\\d+\\s*up`));
  await shot('gateway');
  assert.ok(logLines.some((l) => /olga published policy v2/.test(l)), logLines.join('\n'));
});

test.run();
