/**
 * The fleet's signing tools and the gateway's bundle commands end to end, through the CLI:
 * keygen → trust init → sign → bundle verify → bundle import (into a gateway stateDir) →
 * trust rotate → import of the rotation; refusals exit 1 naming why, usage errors exit 2.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, statSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { stringify } from 'yaml';
import { runCli } from '../../cli/framework';
import { commands } from '../../cli/commands';
import { sitePolicy } from '../bundle/fixtures';
import { FsBlobStore } from '../../runtime/store/fs-blob-store';
import { ACTIVE_BLOB } from '../../runtime/store/policy-store';
import { decodeEnvelope } from '../../policy/bundle/decode-envelope';
import { PID_FILE, writePidFile } from '../../runtime/store/daemon-signal';

const root = mkdtempSync(join(tmpdir(), 'zg-fleet-'));
const p = (...x: string[]) => join(root, ...x);
const sig = new AbortController().signal;

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const code = await runCli(argv, commands, { out: (t) => out.push(t), err: (t) => err.push(t) }, sig);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('keygen writes a 0600 private key, a public key, prints the keyId; refuses to overwrite', async () => {
  for (const name of ['root-1', 'root-2', 'root-3', 'policy-1', 'policy-2', 'other']) {
    const r = await cli('fleet', 'keygen', '--out', p('keys'), '--name', name, '--json');
    assert.is(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.match(j.keyId, /^[0-9a-f]{32}$/);
    assert.is(statSync(p('keys', `${name}.key`)).mode & 0o777, 0o600);
    assert.is(JSON.parse(readFileSync(p('keys', `${name}.pub`), 'utf8')).keyId, j.keyId);
  }
  const again = await cli('fleet', 'keygen', '--out', p('keys'), '--name', 'root-1');
  assert.is(again.code, 2);
  assert.match(again.err, 'exists; refusing to overwrite a key');
  assert.is((await cli('fleet', 'keygen', '--out', p('keys'))).code, 2);
});

test('trust init: threshold of private root keys signs; too few refused', async () => {
  const k = (n: string) => p('keys', n);
  let r = await cli('fleet', 'trust', 'init', '--root-key', k('root-1.key'), '--root-key', k('root-2.key'), '--root-key', k('root-3.pub'),
    '--threshold', '2', '--policy-key', k('policy-1.pub'), '--policy-key', k('policy-2.pub'), '--policy-threshold', '2', '--out', p('root.json'));
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'trust root v1 written to');
  assert.match(r.out, /policy\s+2 of 2/);
  r = await cli('fleet', 'trust', 'init', '--root-key', k('root-1.key'), '--root-key', k('root-2.pub'), '--threshold', '2', '--policy-key', k('policy-1.pub'), '--out', p('bad-root.json'));
  assert.is(r.code, 1);
  assert.match(r.err, "1 valid signature(s) by 'root' keys, 2 required");
  r = await cli('fleet', 'trust', 'init', '--root-key', k('root-1.key'), '--threshold', '3', '--policy-key', k('policy-1.pub'), '--out', p('bad-root.json'));
  assert.is(r.code, 2);
  assert.match(r.err, 'threshold must be 1..1, not 3');
});

test('sign: a good policy is signed; a failing embedded test or an invalid policy is refused with exit 1', async () => {
  writeFileSync(p('site.yaml'), stringify(sitePolicy({ conduits: 3 })));
  let r = await cli('fleet', 'sign', p('site.yaml'), '--key', p('keys', 'policy-1.key'), '--key', p('keys', 'policy-2.key'), '--version', '1', '--targets', 'gw-01,gw-02', '--expires', '30d', '--out', p('v1.zgb'));
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /signed .* as policy bundle v1 \(v1-[0-9a-f]{8}, \d+ bytes\) for gw-01, gw-02/);
  const failing = sitePolicy({ tests: [{ request: { from: 'hmi-0', to: 'plc-0', modbus: { function: 3, unit: 1, address: 10 } }, expect: 'deny' }] });
  writeFileSync(p('failing.yaml'), stringify(failing));
  r = await cli('fleet', 'sign', p('failing.yaml'), '--key', p('keys', 'policy-1.key'), '--version', '2', '--targets', '*', '--out', p('nope.zgb'));
  assert.is(r.code, 1);
  assert.match(r.err, 'not signing');
  assert.match(r.err, '1 of 1 embedded test(s) failed');
  assert.match(r.err, 'expected deny, got allow by c-0');
  assert.not.ok(existsSync(p('nope.zgb')));
  writeFileSync(p('invalid.yaml'), 'site: substation-12\nzones: []\nconduits:\n  - id: x\n    protocol: ftp\n');
  r = await cli('fleet', 'sign', p('invalid.yaml'), '--key', p('keys', 'policy-1.key'), '--version', '2', '--targets', '*', '--out', p('nope.zgb'));
  assert.is(r.code, 1);
  assert.match(r.err, /invalid\.yaml:\d+:\d+: conduits\[0\]/);
  r = await cli('fleet', 'sign', p('site.yaml'), '--key', p('keys', 'policy-1.pub'), '--version', '2', '--targets', '*', '--out', p('nope.zgb'));
  assert.is(r.code, 2);
  assert.match(r.err, 'is a public key; signing needs the .key file');
  assert.is((await cli('fleet', 'sign', p('site.yaml'), '--key', p('keys', 'policy-1.key'), '--version', 'zero', '--targets', '*', '--out', p('x'))).code, 2);
  // The same key twice (or a copy of it) counts once: a warning, and one signature in the bundle.
  copyFileSync(p('keys', 'policy-1.key'), p('policy-1-copy.key'));
  r = await cli('fleet', 'sign', p('site.yaml'), '--key', p('keys', 'policy-1.key'), '--key', p('policy-1-copy.key'), '--version', '2', '--targets', '*', '--out', p('twice.zgb'));
  assert.is(r.code, 0, r.err);
  assert.match(r.err, `warning: --key ${p('policy-1-copy.key')} is the same key as --key ${p('keys', 'policy-1.key')} (keyId `);
  assert.match(r.err, 'it signs once and counts once toward the threshold');
  assert.is(decodeEnvelope(readFileSync(p('twice.zgb'))).signatures.length, 1);
});

test('bundle verify: summary on success, reason on failure, JSON for scripts', async () => {
  let r = await cli('bundle', 'verify', p('v1.zgb'), '--trust', p('root.json'), '--device', 'gw-01');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'ok: policy bundle v1 for site substation-12');
  assert.match(r.out, 'targets:    gw-01, gw-02');
  assert.match(r.out, '2 embedded test(s) passed');
  r = await cli('bundle', 'verify', p('root.json'), '--trust', p('root.json'));
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'ok: trust bundle v1 for site *');
  r = await cli('bundle', 'verify', p('v1.zgb'), '--trust', p('root.json'), '--device', 'gw-09', '--json');
  assert.is(r.code, 1);
  const j = JSON.parse(r.out);
  assert.is(j.code, 'ERR_BUNDLE_TARGET');
  assert.is(j.message, "bundle targets gw-01, gw-02, not 'gw-09'");
  // A bundle signed by one policy key where two are needed.
  await cli('fleet', 'sign', p('site.yaml'), '--key', p('keys', 'policy-1.key'), '--version', '2', '--targets', '*', '--out', p('one-sig.zgb'));
  r = await cli('bundle', 'verify', p('one-sig.zgb'), '--trust', p('root.json'));
  assert.is(r.code, 1);
  assert.match(r.err, "bundle: 1 valid signature(s) by 'policy' keys, 2 required");
  const bytes = readFileSync(p('v1.zgb')); bytes[bytes.length - 3] ^= 4;
  writeFileSync(p('flipped.zgb'), bytes);
  r = await cli('bundle', 'verify', p('flipped.zgb'), '--trust', p('root.json'), '--json');
  assert.is(r.code, 1);
  assert.ok(['ERR_BUNDLE_SIGNATURE', 'ERR_BUNDLE_DECODE'].includes(JSON.parse(r.out).code));
  r = await cli('bundle', 'verify', p('v1.zgb'));
  assert.is(r.code, 2);
  assert.match(r.err, '--trust ROOT is required');
  r = await cli('bundle', 'verify', p('missing.zgb'), '--trust', p('root.json'));
  assert.is(r.code, 1, 'a file that is not there is wrong input, not wrong usage');
  assert.match(r.err, /cannot read bundle .*missing\.zgb: ENOENT/);
  assert.not.match(r.err, '    at ');
});

function gatewayConfig(): string {
  writeFileSync(p('gateway.yaml'), stringify({
    device: 'gw-01', site: 'substation-12', stateDir: './state',
    listeners: [{ listen: '127.0.0.1:15020', asset: 'plc-0', service: 'modbus' }],
    trustRoot: { file: 'root.json' },
  }));
  return p('gateway.yaml');
}

test('bundle import: through the store checks into stateDir; rollback and conflicts refused; a daemon is sent SIGHUP', async () => {
  const cfg = gatewayConfig();
  let r = await cli('bundle', 'import', p('v1.zgb'), '--config', cfg, '--json');
  assert.is(r.code, 0, r.err + r.out);
  let j = JSON.parse(r.out);
  assert.is(j.outcome, 'activated');
  assert.is(j.version, 1);
  assert.is(j.daemon, 'not running');
  assert.equal(readFileSync(p('state', ACTIVE_BLOB)), readFileSync(p('v1.zgb')));
  r = await cli('bundle', 'import', p('v1.zgb'), '--config', cfg);
  assert.is(r.code, 0);
  assert.match(r.out, 'already active: policy v1-');
  // v3, then v2 is a rollback.
  for (const v of ['2', '3']) {
    r = await cli('fleet', 'sign', p('site.yaml'), '--key', p('keys', 'policy-1.key'), '--key', p('keys', 'policy-2.key'), '--version', v, '--targets', '*', '--out', p(`v${v}.zgb`));
    assert.is(r.code, 0, r.err);
  }
  // A stand-in daemon: a process that records SIGHUP.
  const daemon = spawn(process.execPath, ['-e', "process.on('SIGHUP',()=>{console.log('hup');process.exit(0)});console.log('up');setInterval(()=>{},1000)"], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((res) => daemon.stdout!.once('data', () => res()));
    await writePidFile(p('state'), daemon.pid!);
    const hup = new Promise<string>((res) => daemon.stdout!.on('data', (d) => res(String(d))));
    r = await cli('bundle', 'import', p('v3.zgb'), '--config', cfg);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, `imported: policy v3-`);
    assert.match(r.out, `daemon signalled (pid ${daemon.pid})`);
    assert.match(await hup, 'hup');
  } finally {
    daemon.kill('SIGKILL');
    rmSync(p('state', PID_FILE), { force: true });
  }
  r = await cli('bundle', 'import', p('v2.zgb'), '--config', cfg, '--json');
  assert.is(r.code, 1);
  j = JSON.parse(r.out);
  assert.is(j.code, 'ERR_BUNDLE_ROLLBACK');
  assert.is(j.message, 'bundle v2 is older than v3, the highest version accepted here');
  const blobs = await FsBlobStore.open({ dir: p('state') });
  assert.equal(Buffer.from((await blobs.read(ACTIVE_BLOB))!), readFileSync(p('v3.zgb')));
});

test('trust rotate: needs the old and the new threshold; the rotation imports; old policy keys stop working', async () => {
  const k = (n: string) => p('keys', n);
  let r = await cli('fleet', 'trust', 'rotate', '--old', p('root.json'), '--new-root-key', k('other.pub'), '--threshold', '1',
    '--sign-with', k('root-1.key'), '--out', p('root-2.json'));
  assert.is(r.code, 1);
  assert.match(r.err, 'new trust root (old root v1 keys): 1 valid signature(s)');
  r = await cli('fleet', 'trust', 'rotate', '--old', p('root.json'), '--new-root-key', k('other.key'), '--threshold', '1',
    '--policy-key', k('other.pub'), '--sign-with', k('root-1.key'), '--sign-with', k('root-2.key'), '--sign-with', k('other.key'), '--out', p('root-2.cbor'), '--json');
  assert.is(r.code, 0, r.err + r.out);
  assert.is(JSON.parse(r.out).version, 2);
  const cfg = p('gateway.yaml');
  r = await cli('bundle', 'import', p('root-2.cbor'), '--config', cfg);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'imported: trust root v2');
  // The root in force imported again: "already active", exit 0 (as the active policy); the old v1 is refused.
  r = await cli('bundle', 'import', p('root-2.cbor'), '--config', cfg, '--json');
  assert.is(r.code, 0, r.out);
  assert.is(JSON.parse(r.out).outcome, 'trust-unchanged');
  r = await cli('bundle', 'import', p('root.json'), '--config', cfg, '--json');
  assert.is(r.code, 1);
  assert.is(JSON.parse(r.out).code, 'ERR_BUNDLE_SIGNATURE', 'the old v1 is no rotation of v2');
  r = await cli('fleet', 'sign', p('site.yaml'), '--key', p('keys', 'policy-1.key'), '--key', p('keys', 'policy-2.key'), '--version', '4', '--targets', '*', '--out', p('v4-old-keys.zgb'));
  r = await cli('bundle', 'import', p('v4-old-keys.zgb'), '--config', cfg, '--json');
  assert.is(r.code, 1);
  assert.is(JSON.parse(r.out).code, 'ERR_BUNDLE_SIGNATURE');
  r = await cli('fleet', 'sign', p('site.yaml'), '--key', k('other.key'), '--version', '4', '--targets', 'gw-01', '--out', p('v4.zgb'));
  r = await cli('bundle', 'import', p('v4.zgb'), '--config', cfg);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'imported: policy v4-');
});

test('--help on every bundle and fleet command', async () => {
  for (const path of [['bundle', 'verify'], ['bundle', 'import'], ['fleet', 'keygen'], ['fleet', 'trust', 'init'], ['fleet', 'trust', 'rotate'], ['fleet', 'sign']]) {
    const r = await cli(...path, '--help');
    assert.is(r.code, 0);
    assert.match(r.out, `usage: zonegate ${path.join(' ')}`);
  }
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
