/**
 * What the gateway says about its policy store at boot and after an offline import (issue 13
 * items 2, 4, 6 and the import log line): a corrupt or rolled-back `policy.active` found at boot
 * is logged and shows as an alarm in `status()` and `zonegate status`; a reload after `bundle
 * import` logs the activation as an import; importing the trust root already in force exits 0.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { createGateway, type Gateway } from '../../runtime/gateway';
import { ACTIVE_BLOB } from '../../runtime/store/policy-store';
import { makeLab, signedConfig, modbusUpstream, labPolicy, cli, waitFor, type Cleanup, type Lab } from './helpers';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

async function run(lab: Lab): Promise<{ gw: Gateway; lines: string[] }> {
  const lines: string[] = [];
  const gw = createGateway({
    configFile: lab.config,
    log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) },
    writeLine: () => undefined,
  });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  return { gw, lines };
}

async function setupLab(): Promise<Lab> {
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  const upstreamPort = await modbusUpstream(cleanups);
  lab.write('gateway.yaml', signedConfig({ upstreamPort }));
  return lab;
}

test('corruption found at boot: logged, alarmed in status() and in `zonegate status`; the previous bundle enforces', async () => {
  const lab = await setupLab();
  for (const v of [1, 2]) {
    const b = await lab.sign(`v${v}`, labPolicy({ writes: false, tag: `t${v}` }), v);
    assert.is((await cli('bundle', 'import', b, '--config', lab.config)).code, 0);
  }
  const flipped = readFileSync(lab.p('state', ACTIVE_BLOB));
  flipped[flipped.length - 3] ^= 0x01;
  writeFileSync(lab.p('state', ACTIVE_BLOB), flipped);
  const { gw, lines } = await run(lab);
  const st = gw.status();
  assert.is(st.policy.store!.active!.version, 1, 'fell back to the previous bundle');
  const alarm = st.alarms.find((a) => a.id === 'store:bundle-corrupt');
  assert.ok(alarm, JSON.stringify(st.alarms));
  assert.is(alarm!.severity, 'critical');
  assert.match(alarm!.message, 'policy.active does not verify');
  assert.ok(lines.some((l) => l.startsWith('warn policy store alarm bundle-corrupt: policy.active does not verify')), lines.join('\n'));
  await waitFor(async () => (await cli('status', '--config', lab.config, '--json')).code === 0, 'status.json');
  const doc = JSON.parse((await cli('status', '--config', lab.config, '--json')).out) as { status: { alarms: { id: string }[] } };
  assert.ok(doc.status.alarms.some((a) => a.id === 'store:bundle-corrupt'), JSON.stringify(doc.status.alarms));
  const human = await cli('status', '--config', lab.config);
  assert.match(human.out, 'ALARM critical: policy.active does not verify');
});

test('an old signed bundle copied over policy.active at rest: alarm policy-rollback, not enforced', async () => {
  const lab = await setupLab();
  const files: string[] = [];
  for (const v of [1, 2, 3]) {
    files.push(await lab.sign(`v${v}`, labPolicy({ writes: false, tag: `t${v}` }), v));
    assert.is((await cli('bundle', 'import', files[v - 1], '--config', lab.config)).code, 0);
  }
  copyFileSync(files[0], lab.p('state', ACTIVE_BLOB));
  const { gw, lines } = await run(lab);
  const st = gw.status();
  assert.is(st.policy.store!.active!.version, 2);
  assert.ok(st.alarms.some((a) => a.id === 'store:policy-rollback' && a.severity === 'critical' && /below the high-water mark v3/.test(a.message)), JSON.stringify(st.alarms));
  assert.ok(lines.some((l) => l.startsWith('warn policy store alarm policy-rollback: policy.active holds v1-')), lines.join('\n'));
});

test('an offline import picked up by a reload is logged as an import, not "from boot"; the active root imported again exits 0', async () => {
  const lab = await setupLab();
  const v1 = await lab.sign('v1', labPolicy({ writes: false }), 1);
  assert.is((await cli('bundle', 'import', v1, '--config', lab.config)).code, 0);
  const { gw, lines } = await run(lab);
  assert.ok(lines.some((l) => /^info bundle v1 \(v1-[0-9a-f]{8}\) activated from boot/.test(l)), lines.join('\n'));
  const v2 = await lab.sign('v2', labPolicy({ writes: false, tag: 'usb' }), 2);
  assert.is((await cli('bundle', 'import', v2, '--config', lab.config)).code, 0);
  await gw.reload();
  assert.ok(lines.some((l) => /^info bundle v2 \(v2-[0-9a-f]{8}\) activated from import/.test(l)), lines.join('\n'));
  assert.is(gw.status().policy.store!.active!.source, 'import');
  // The provisioned root is the root in force: importing it again is "already active", exit 0.
  const again = await cli('bundle', 'import', lab.p('keys', 'root.json'), '--config', lab.config, '--json');
  assert.is(again.code, 0, again.out + again.err);
  assert.is(JSON.parse(again.out).outcome, 'trust-unchanged');
  const human = await cli('bundle', 'import', lab.p('keys', 'root.json'), '--config', lab.config);
  assert.is(human.code, 0);
  assert.match(human.out, /^already active: trust root v1 \(/);
  await gw.reload();
  assert.not.ok(gw.status().alarms.some((a) => a.id === 'policy-refused'));
});

test.run();
