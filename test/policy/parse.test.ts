import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSource, formatOf } from '../../policy/source';
import { parsePolicy } from '../../policy/parse';
import { ZonegateError } from '../../policy/errors';
import { loadPolicyFile, readPolicyText } from '../../runtime/policy-file';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const ROOT = process.cwd();
const fixture = (name: string) => join(ROOT, 'test', 'fixtures', 'policy', name);

function parseErr(fn: () => unknown): ZonegateError {
  try { fn(); } catch (e) {
    assert.instance(e, ZonegateError);
    return e as ZonegateError;
  }
  throw new Error('expected an error');
}

test('YAML positions: mapping entries locate their key, sequence items themselves', () => {
  const text = 'site: s\nzones:\n  - id: a\n    networks: [10.0.0.0/8, "fd00::/8"]\n  - { id: b, securityLevel: 2 }\n';
  const src = parseSource(text, { file: 'x.yaml' });
  assert.equal(src.locate([]), { line: 1, col: 1 });
  assert.equal(src.locate(['site']), { line: 1, col: 1 });
  assert.equal(src.locate(['zones']), { line: 2, col: 1 });
  assert.equal(src.locate(['zones', 0]), { line: 3, col: 5 });
  assert.equal(src.locate(['zones', 0, 'networks']), { line: 4, col: 5 });
  assert.equal(src.locate(['zones', 0, 'networks', 1]), { line: 4, col: 28 });
  assert.equal(src.locate(['zones', 1, 'securityLevel']), { line: 5, col: 14 });
  assert.is(src.locate(['zones', 2]), undefined);
  assert.is(src.locate(['nope']), undefined);
  assert.is(src.locate(['site', 'x']), undefined);
});

test('JSON is parsed strictly and located too', () => {
  const text = '{\n  "site": "s",\n  "zones": [\n    {"id": "a", "securityLevel": 2}\n  ]\n}\n';
  const src = parseSource(text, { file: 'p.json' });
  assert.equal(JSON.parse(JSON.stringify(src.value)), JSON.parse(text));
  assert.equal(src.locate(['zones', 0, 'securityLevel']), { line: 4, col: 17 });
  assert.equal(src.locate(['site']), { line: 2, col: 3 });
  // YAML-only forms are JSON syntax errors when the format is JSON.
  const e = parseErr(() => parseSource('{\n  "a": 1,\n}\n', { file: 'p.json' }));
  assert.is(e.code, 'ERR_POLICY_PARSE');
  assert.match(e.message, /^cannot parse in p\.json: invalid JSON/);
  assert.equal([e.issues[0].file, e.issues[0].line], ['p.json', 3]);
  assert.is(parseErr(() => parseSource('{a: 1}', { format: 'json' })).code, 'ERR_POLICY_PARSE');
  assert.is(parseErr(() => parseSource('{"a": 1, "a": 2}', { format: 'json' })).code, 'ERR_POLICY_PARSE');
  // The same text as YAML is fine.
  assert.equal({ ...(parseSource('{a: 1}', {}).value as object) }, { a: 1 });
});

test('format from the extension', () => {
  assert.is(formatOf('a.json'), 'json');
  assert.is(formatOf('A.JSON'), 'json');
  assert.is(formatOf('a.yaml'), 'yaml');
  assert.is(formatOf('a.yml'), 'yaml');
  assert.is(formatOf(undefined), 'yaml');
});

test('YAML syntax errors carry file, line and column', () => {
  const e = parseErr(() => parseSource(readFileSync(fixture('syntax.yaml'), 'utf8'), { file: 'syntax.yaml' }));
  assert.is(e.code, 'ERR_POLICY_PARSE');
  assert.is(e.issues.length, 1);
  assert.equal({ file: e.issues[0].file, line: e.issues[0].line }, { file: 'syntax.yaml', line: 4 });
  assert.match(e.issues[0].message, /Flow map/);
  const dup = parseErr(() => parseSource('a: 1\nb: 2\na: 3\n', { file: 'd.yaml' }));
  assert.match(dup.issues[0].message, /Map keys must be unique/);
  assert.equal([dup.issues[0].line, dup.issues[0].col], [3, 1]);
  const multi = parseErr(() => parseSource('a: 1\n---\nb: 2\n', { file: 'm.yaml' }));
  assert.match(multi.issues[0].message, /more than one YAML document/);
  assert.is(multi.issues[0].line, 2);
  const crlf = parseSource('site: s\r\nzones:\r\n  - id: a\r\n', {});
  assert.equal(crlf.locate(['zones', 0, 'id']), { line: 3, col: 5 });
  const tab = parseErr(() => parseSource('a:\n\t- 1\n', {}));
  assert.is(tab.code, 'ERR_POLICY_PARSE');
});

test('plain data: null prototypes, __proto__ is an ordinary key', () => {
  const v = parseSource('__proto__: { polluted: true }\nconstructor: 1\nlist: [{ __proto__: 2 }]\n', {}).value as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(v), null);
  assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'));
  assert.equal({ ...(v.__proto__ as object) }, { polluted: true });
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is(v.constructor, 1);
  const item = (v.list as Record<string, unknown>[])[0];
  assert.is(Object.getPrototypeOf(item), null);
  assert.is(item.__proto__, 2);
  const j = parseSource('{"__proto__": {"x": 1}}', { format: 'json' }).value as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(j), null);
  assert.is(({} as Record<string, unknown>).x, undefined);
});

test('scalars follow YAML 1.2 core: no sexagesimal times, yes is a string', () => {
  const v = parseSource('t: 22:00\nb: yes\nn: 0x10\nz: ~\nf: 1.5\n', {}).value as Record<string, unknown>;
  assert.equal({ ...v }, { t: '22:00', b: 'yes', n: 16, z: null, f: 1.5 });
  assert.is(parseErr(() => parseSource('a: .inf\n', {})).code, 'ERR_POLICY_PARSE');
});

test('aliases expand, within a budget; an alias inside its anchor is refused', () => {
  const ok = parseSource('a: &x [1, 2]\nb: *x\n', {}).value as Record<string, unknown>;
  assert.equal(ok.b, [1, 2]);
  const bomb = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
    'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]',
    'i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]',
  ].join('\n');
  const e = parseErr(() => parseSource(bomb, { file: 'bomb.yaml' }));
  assert.is(e.code, 'ERR_POLICY_PARSE');
  assert.match(e.message, /alias|nodes/);
  assert.is(e.issues[0].file, 'bomb.yaml');
  assert.type(e.issues[0].line, 'number');
  const self = parseErr(() => parseSource('a: &x [1, *x]\n', {}));
  assert.match(self.message, /refers to a node that contains it/);
  assert.match(parseErr(() => parseSource('a: *nope\n', {})).message, /nope/);
});

test('absurd nesting is a parse error, not a stack overflow', () => {
  for (const n of [100, 3000, 1000000]) {
    const e = parseErr(() => parseSource(`a: ${'['.repeat(n)}${']'.repeat(n)}\n`, { file: 'deep.yaml' }));
    assert.is(e.code, 'ERR_POLICY_PARSE', String(n));
    assert.match(e.message, /nested more than (64|256)/);
  }
  // Block nesting deep enough to exhaust the parser's stack is a parse error too.
  let block = '';
  for (let i = 0; i < 1000; i++) block += `${' '.repeat(i)}k:\n`;
  assert.is(parseErr(() => parseSource(block, {})).code, 'ERR_POLICY_PARSE');
  // Brackets inside strings and comments below the bound are fine.
  assert.equal((parseSource('a: "[[[["  # [[[[[\n', {}).value as Record<string, unknown>).a, '[[[[');
  const j = parseErr(() => parseSource(`{"a": ${'['.repeat(200)}${']'.repeat(200)}}`, { format: 'json' }));
  assert.match(j.message, /nested more than 64 levels/);
});

test('parsePolicy: the example site is valid', () => {
  const file = join(ROOT, 'examples', 'substation.yaml');
  const doc = parsePolicy(readFileSync(file, 'utf8'), { file });
  assert.is(doc.site, 'substation-12');
  assert.ok(doc.tests.length >= 15);
  const reasons = new Set(doc.tests.map((t) => t.reason).filter(Boolean));
  for (const r of ['no-conduit', 'function-not-allowed', 'address-out-of-range', 'unit-not-allowed', 'outside-schedule', 'edge-auth-required', 'grant-required', 'quarantined', 'malformed']) {
    assert.ok(reasons.has(r as never), `example tests cover ${r}`);
  }
  const vendor = doc.conduits.find((c) => c.id === 'vendor-maintenance')!;
  assert.equal(vendor.schedule, { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: 22 * 60, to: 4 * 60, tz: 'America/Chicago' });
  assert.equal(vendor.requires, { edgeAuth: true, grant: true });
  assert.ok(doc.conduits.some((c) => c.mode === 'monitor'));
  assert.ok(doc.conduits.some((c) => c.rateLimit !== undefined));
  assert.ok(doc.zones.some((z) => z.networks.some((n) => n.includes(':'))));
});

test('parsePolicy: JSON text of the same site gives the same document', () => {
  const file = join(ROOT, 'examples', 'substation.yaml');
  const doc = parsePolicy(readFileSync(file, 'utf8'), { file });
  const raw = parseSource(readFileSync(file, 'utf8'), {}).value;
  const json = JSON.stringify(raw, null, 2);
  assert.equal(parsePolicy(json, { file: 'site.json' }), doc);
});

test('parsePolicy: syntax errors are ERR_POLICY_PARSE, invalid documents ERR_POLICY_INVALID with positions', () => {
  assert.is(parseErr(() => parsePolicy('a: [', { file: 'x.yaml' })).code, 'ERR_POLICY_PARSE');
  const text = readFileSync(fixture('broken.yaml'), 'utf8');
  const e = parseErr(() => parsePolicy(text, { file: 'broken.yaml' }));
  assert.is(e.code, 'ERR_POLICY_INVALID');
  assert.ok(e.issues.length >= 6);
  for (const i of e.issues) {
    assert.is(i.file, 'broken.yaml');
    assert.type(i.line, 'number');
    assert.type(i.col, 'number');
  }
});

test('bad fixtures each fail with the expected problem', () => {
  const cases: [string, string, RegExp][] = [
    ['overlap.yaml', 'zones[1].networks[0]', /overlaps 10\.10\.0\.0\/16 of zone 'station'/],
    ['vendor-no-edgeauth.yaml', 'conduits[0].requires.grant', /needs edgeAuth: true/],
    ['tcp-allow.yaml', 'conduits[0].allow', /tcp conduit allows whole connections/],
  ];
  for (const [name, path, message] of cases) {
    const e = parseErr(() => parsePolicy(readFileSync(fixture(name), 'utf8'), { file: name }));
    assert.is(e.code, 'ERR_POLICY_INVALID', name);
    assert.equal(e.issues.map((i) => i.path), [path], name);
    assert.match(e.issues[0].message, message);
  }
});

test('loadPolicyFile: reads, parses and validates; refuses what is not a readable UTF-8 file', async () => {
  const { doc, text } = await loadPolicyFile('examples/substation.yaml');
  assert.is(doc.site, 'substation-12');
  assert.ok(text.startsWith('# zonegate policy'));
  const dir = mkdtempSync(join(tmpdir(), 'zg-policy-file-'));
  const rejects = async (p: Promise<unknown>): Promise<ZonegateError> => {
    try { await p; } catch (e) { assert.instance(e, ZonegateError); return e as ZonegateError; }
    throw new Error('expected a rejection');
  };
  try {
    writeFileSync(join(dir, 'latin1.yaml'), Buffer.from([0x73, 0x69, 0x74, 0x65, 0x3a, 0x20, 0xe9, 0x0a]));
    const bad = await rejects(readPolicyText(join(dir, 'latin1.yaml')));
    assert.is(bad.code, 'ERR_POLICY_PARSE');
    assert.match(bad.message, /not valid UTF-8 text/);
    assert.match((await rejects(readPolicyText(dir))).message, /not a regular file|is a directory/);
    assert.match((await rejects(readPolicyText(join(dir, 'none.yaml')))).message, /^cannot read policy file .*none\.yaml: no such file$/);
    writeFileSync(join(dir, 'bom.yaml'), '\ufeffsite: s\n');
    assert.is(await readPolicyText(join(dir, 'bom.yaml')), 'site: s\n');
    writeFileSync(join(dir, 'big.yaml'), 'x'.repeat(100));
    assert.match((await rejects(readPolicyText(join(dir, 'big.yaml'), { maxBytes: 99 }))).message, /100 bytes is more than the 99-byte limit/);
    writeFileSync(join(dir, 'bad.yaml'), 'site: s\nzones: 3\n');
    const inv = await rejects(loadPolicyFile(join(dir, 'bad.yaml')));
    assert.is(inv.code, 'ERR_POLICY_INVALID');
    assert.equal([inv.issues[0].line, inv.issues[0].col, inv.issues[0].path], [2, 1, 'zones']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
