/**
 * `zonegate policy check`, run as the bundled CLI an operator runs: the same esbuild options as
 * build/bundle.mjs, bundled into a temporary folder so that parallel test files never race on dist/.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = process.cwd();
const BIN = mkdtempSync(join(tmpdir(), 'zg-check-cli-'));
const CLI = join(BIN, 'zonegate.js');
const BROKEN = 'test/fixtures/policy/broken.yaml';

function zonegate(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.before(async () => {
  await build({
    entryPoints: [join(ROOT, 'cli/main.ts')], outfile: CLI, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
    external: ['@node-rs/argon2', 'cbor-extract', 'playwright-core'],
    define: { ZONEGATE_VERSION: JSON.stringify(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version) },
    logLevel: 'error', nodePaths: [join(ROOT, 'node_modules')],
  });
});
test.after(() => rmSync(BIN, { recursive: true, force: true }));

test('the example policy is valid: exit 0 and a one-line summary', () => {
  const r = zonegate('policy', 'check', 'examples/substation.yaml');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), 'ok: site substation-12, 5 zones, 11 assets, 9 identities, 11 conduits, 26 tests');
  assert.is(r.stderr, '');
});

test('broken.yaml: exit 1 and every problem as FILE:LINE:COL: PATH: message', () => {
  const r = zonegate('policy', 'check', BROKEN);
  assert.is(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines, [
    `${BROKEN}:5:31: zones[1].networks[0]: '10.10.1.1/24' has host bits set; did you mean 10.10.1.0/24?`,
    `${BROKEN}:7:33: assets[0].address: 10.10.2.20 is not inside zone 'control' (10.10.1.0/24)`,
    `${BROKEN}:12:26: conduits[0].from.identities[0]: unknown identity 'hmi-2' (did you mean 'hmi-1'?)`,
    `${BROKEN}:15:5: conduits[0].alow: unknown field 'alow' (did you mean 'allow'?)`,
    `${BROKEN}:20:26: conduits[1].allow.functions[0]: unknown Modbus function 'write-singel-register' (did you mean 'write-single-register'?)`,
    `${BROKEN}:20:62: conduits[1].allow.addresses[0]: address range "100-10" is empty: 100 is after 10 (did you mean "10-100"?)`,
    `${BROKEN}:21:58: conduits[1].schedule.tz: unknown time zone 'America/Chicgo' (did you mean 'America/Chicago'?)`,
    `7 problems in ${BROKEN}`,
  ]);
  assert.is(r.stdout, '');
});

test('--json: ok, file, issues and summary', () => {
  const good = zonegate('policy', 'check', 'examples/substation.yaml', '--json');
  assert.is(good.code, 0);
  const g = JSON.parse(good.stdout);
  assert.equal(g, { ok: true, file: 'examples/substation.yaml', issues: [], warnings: [], summary: { site: 'substation-12', zones: 5, assets: 11, identities: 9, conduits: 11, tests: 26 } });
  const bad = zonegate('policy', 'check', BROKEN, '--json');
  assert.is(bad.code, 1);
  const b = JSON.parse(bad.stdout);
  assert.is(b.ok, false);
  assert.is(b.summary, null);
  assert.is(b.issues.length, 7);
  assert.equal(b.issues[0], { path: 'zones[1].networks[0]', message: "'10.10.1.1/24' has host bits set; did you mean 10.10.1.0/24?", file: BROKEN, line: 5, col: 31 });
});

test('zones that name no interfaces are warned about (stderr, FILE:LINE:COL), exit 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zg-check-warn-'));
  try {
    const file = join(dir, 'no-ifaces.yaml');
    writeFileSync(file, readFileSync('examples/substation.yaml', 'utf8').replace('    interfaces: [eth0]\n', ''));
    const r = zonegate('policy', 'check', file);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: site substation-12/);
    assert.match(r.stderr, new RegExp(`^${file}:15:5: zones\\[0\\]: warning: zone enterprise names no interfaces: the gateway tells its traffic apart by address only; its input from the zone stays closed except the proxy listeners and management ports\n$`));
    const j = JSON.parse(zonegate('policy', 'check', file, '--json').stdout);
    assert.equal(j.warnings.map((w: { path: string }) => w.path), ['zones[0]']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warnings: a valid policy letting a whole zone write exits 0 with a located warning on stderr', () => {
  const file = 'test/fixtures/policy/zone-writes.yaml';
  const r = zonegate('policy', 'check', file);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), 'ok: site zone-writes, 2 zones, 1 asset, 1 identity, 3 conduits, 0 tests');
  assert.is(r.stderr, `${file}:17:13: conduits[1].from.zones: warning: conduit 'station-writes' allows write-single-register to everyone in zone 'station'; name identities or roles for writes and diagnostics\n`);
  const j = JSON.parse(zonegate('policy', 'check', file, '--json').stdout);
  assert.is(j.ok, true);
  assert.equal(j.warnings.map((w: { path: string }) => w.path), ['conduits[1].from.zones']);
});

test('syntax errors, JSON files and unreadable files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zg-check-'));
  try {
    const y = zonegate('policy', 'check', 'test/fixtures/policy/syntax.yaml');
    assert.is(y.code, 1);
    assert.match(y.stderr, /^test\/fixtures\/policy\/syntax\.yaml:4:1: \(document\): /);
    const j = zonegate('policy', 'check', 'test/fixtures/policy/syntax.json');
    assert.is(j.code, 1);
    assert.match(j.stderr, /^test\/fixtures\/policy\/syntax\.json:4:1: \(document\): invalid JSON/);
    const missing = zonegate('policy', 'check', join(dir, 'nope.yaml'));
    assert.is(missing.code, 1);
    assert.match(missing.stderr, /nope\.yaml: \(document\): no such file/);
    const json = join(dir, 'p.json');
    writeFileSync(json, JSON.stringify({ site: 's', zones: [{ id: 'z', networks: ['10.0.0.0/8'], securityLevel: 7 }] }, null, 2));
    const jv = zonegate('policy', 'check', json);
    assert.is(jv.code, 1);
    assert.match(jv.stderr, `${json}:9:7: zones[0].securityLevel: a security level must be 0..4, got 7`);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, Buffer.alloc(64 * 1024 * 1024 + 1, 0x20));
    const b = zonegate('policy', 'check', big);
    assert.is(b.code, 1);
    assert.match(b.stderr, /more than the 67108864-byte limit/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage: no arguments exit 2, --help exit 0', () => {
  const none = zonegate('policy', 'check');
  assert.is(none.code, 2);
  assert.match(none.stderr, /usage: zonegate policy check FILE \[--json\]/);
  const help = zonegate('policy', 'check', '--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /usage: zonegate policy check FILE \[--json\]/);
  assert.match(help.stdout, /--json/);
});

test.run();
