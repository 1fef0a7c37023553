/**
 * policy/source-fast.ts is a fast path of parseSource, never a dialect of its own: whatever it
 * returns must be what the yaml package's reader (parseFull) returns for the same text, and
 * whatever that reader refuses, it must leave alone. Checked on every YAML and JSON file of the
 * repository, on emitted policies, and on seeded random texts (rendered in block, flow and JSON
 * styles, then mutated with the characters YAML is picky about). ZG_FAST_YAML_SEED replays a run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readFast } from '../../policy/source-fast';
import { parseFull, parseSource } from '../../policy/source';
import { parsePolicy } from '../../policy/parse';
import { validatePolicy } from '../../policy/validate';
import { ZonegateError } from '../../policy/errors';
import { emitPolicyYaml } from '../../policy/learn/emit';
import { mulberry32 } from '../helpers/prng';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const ROOT = process.cwd();
const LIMITS = { maxDepth: 48 };

/** The yaml package's value, or the error it reports. */
function full(text: string): { value: unknown } | { error: ZonegateError } {
  try {
    return { value: parseFull(text).value };
  } catch (e) {
    if (!(e instanceof ZonegateError)) throw e;
    return { error: e };
  }
}

/** Strict deep equality: same prototypes, same own keys in the same order, Object.is on leaves (dequal trips over a `constructor` key). */
function same(a: unknown, b: unknown): boolean {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return Object.is(a, b);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Fast ⇒ the same value as the full reader; returns whether the fast path read it. */
function agrees(text: string, what: string): boolean {
  const fast = readFast(text, LIMITS);
  if (fast === undefined) return false;
  const f = full(text);
  if ('error' in f) assert.unreachable(`${what}: the fast reader read a text the yaml package refuses (${f.error.message}):\n${text}`);
  else if (!same(fast.value, f.value)) assert.unreachable(`${what}: values differ for:\n${text}\nfast: ${JSON.stringify(fast.value)}\nfull: ${JSON.stringify(f.value)}`);
  return true;
}

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else if (/\.(ya?ml|json)$/.test(name)) out.push(p);
  }
  return out;
}

test('every YAML and JSON file of the repository reads the same; the policies take the fast path', () => {
  const files = filesUnder(ROOT);
  assert.ok(files.length > 10, `found ${files.length} files`);
  let fast = 0;
  for (const f of files) if (agrees(readFileSync(f, 'utf8'), f)) fast++;
  assert.ok(fast >= files.length / 2, `${fast} of ${files.length} read fast`);
  // The example site's policy is plain YAML: it must not fall back.
  assert.ok(readFast(readFileSync(join(ROOT, 'examples/substation.yaml'), 'utf8'), LIMITS));
});

test('an emitted policy takes the fast path and reads as the full reader reads it', () => {
  const doc = parsePolicy(readFileSync(join(ROOT, 'examples/substation.yaml'), 'utf8'), { file: 'substation.yaml' });
  const text = emitPolicyYaml(doc, { header: ['test'], conduit: new Map([[doc.conduits[0].id, ['a comment: with # and "quotes"']]]) });
  assert.ok(agrees(text, 'emitted'));
  assert.equal(parsePolicy(text, { file: 'emitted.yaml' }), validatePolicy(parseFull(text).value, { file: 'emitted.yaml' }));
});

test('the core schema as the yaml package resolves it; mappings have no prototype', () => {
  const text = 'a: 0x1F\nb: 0o17\nc: -0012\nd: +5\ne: 1.50\nf: 1e3\ng: .5\nh: ~\ni: Null\nj: TRUE\nk: yes\nl: 22:00\nm: fd00::1\nn: "x\\u00e9\\n"\no: \'it\'\'s\'\n'
    + 'p: [a:b, "q", -3, x y]\n__proto__: { polluted: true }\n12: twelve\nnull: empty key\n';
  assert.ok(agrees(text, 'schema'));
  const v = readFast(text, LIMITS)?.value as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(v), null);
  assert.equal([v.a, v.b, v.c, v.d, v.e, v.f, v.g, v.h, v.i, v.j, v.k, v.l, v.m, v.n, v.o], [31, 15, -12, 5, 1.5, 1000, 0.5, null, null, true, 'yes', '22:00', 'fd00::1', 'x\u00e9\n', "it's"]);
  assert.equal(Object.keys(v.__proto__ as object), ['polluted']);
  assert.is(v['12'], 'twelve');
  assert.is(v[''], 'empty key');
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test('what the fast reader leaves to the yaml package, which reports it with a position', () => {
  const cases: [string, RegExp | null][] = [
    ['a: 1\na: 2\n', /unique/i],
    ['a: 1\n---\nb: 2\n', /more than one YAML document/],
    ['a:\n\t- 1\n', /tab/i],
    ['a: &x [1]\nb: *x\n', null],
    ['a: |\n  text\n', null],
    ['a: .inf\n', /not allowed/],
    ['a: multi\n  line\n', null],
    ['a: "open\n  quote"\n', null],
    ['a: [1,\n2]\n', /indented/],
    ['a: [1, "q": 2]\n', null],
    ['a: [1, 2,]\n', null],
    ['a: b: c\n', /nested|implicit|mapping/i],
    ['site: s\r\nzones: []\r\n', null],
    ['? complex\n: key\n', null],
    ['a: !!str 1\n', null],
    [`a: ${'['.repeat(60)}${']'.repeat(60)}\n`, null],
  ];
  for (const [text, error] of cases) {
    assert.is(readFast(text, LIMITS), undefined, JSON.stringify(text));
    const f = full(text);
    if (error) {
      assert.ok('error' in f, JSON.stringify(text));
      if ('error' in f) { assert.match(f.error.message, error); assert.ok(f.error.issues[0].line !== undefined, 'a line'); }
    }
  }
  // Through parseSource the same errors come out, located.
  try {
    parseSource('zones: []\nsite: a\nsite: b\n', { file: 'dup.yaml' });
    assert.unreachable('a duplicate key');
  } catch (e) {
    assert.instance(e, ZonegateError);
    assert.is((e as ZonegateError).code, 'ERR_POLICY_PARSE');
    assert.equal([(e as ZonegateError).issues[0].file, (e as ZonegateError).issues[0].line, (e as ZonegateError).issues[0].col], ['dup.yaml', 3, 1]);
  }
});

test('a fast-read policy with problems still names line and column (read again with positions)', () => {
  const text = 'site: s\nzones:\n  - { id: a, networks: [10.0.0.0/8], securityLevel: 2 }\nassets:\n  - { id: p, zone: nowhere, address: 10.0.0.5, kind: plc }\n';
  assert.ok(readFast(text, LIMITS));
  try {
    parsePolicy(text, { file: 'bad.yaml' });
    assert.unreachable('an unknown zone');
  } catch (e) {
    assert.instance(e, ZonegateError);
    const issue = (e as ZonegateError).issues.find((i) => i.path === 'assets[0].zone');
    assert.ok(issue, JSON.stringify((e as ZonegateError).issues));
    assert.equal([issue?.file, issue?.line, issue?.col], ['bad.yaml', 5, 14]); // a mapping entry is located at its key
  }
});

// ---- random texts ------------------------------------------------------------------------------

const SCALARS = [
  'a', 'conduit-1', 'plc_2.x', '10.0.0.1', '10.0.0.0/8', 'fd00::1', '::1', '22:00', 'a:b', 'a: b', 'a #b', 'a#b', '-5', '+5', '-', '0x1F', '0X1f',
  '0o17', '017', '1_000', '1e3', '1E+3', '.5', '1.', '-.5e-2', '~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRue', 'false', 'yes', 'no',
  '', ' a', 'a ', "it's", 'say "hi"', '[x]', '{x}', 'a,b', '- a', '-a', '?a', '? a', ':a', '*a', '&a', '!a', '|', '>', '%x', '@x', '`x', 'é', 'Zähler',
  '.inf', '-.Inf', '.nan', 'a\\b', 'tab\there', 'x y z', '__proto__', 'constructor', '#', '---', '...', 'a]', 'a}', '"', "'", '1' + '0'.repeat(400),
  '2026-11-23T06:00:00Z', 'ünïcödé ✓', 'line\nbreak', '0', '-0', '007', 'x'.repeat(1100),
];
const EDITS = [' ', '\n', ':', '#', ' #', '-', '- ', '[', ']', '{', '}', ',', '"', "'", '\\', '\t', '\r', 'x', ': ', '&a ', '*a', '---\n', '? ', '  ', '\n  ', '|', '!', '\u00a0', '\ufeff'];

type Data = string | number | boolean | null | Data[] | { [k: string]: Data };

function randomData(r: () => number, depth: number): Data {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const k = r();
  if (depth <= 0 || k < 0.45) {
    const s = r();
    if (s < 0.6) return pick(SCALARS);
    if (s < 0.8) return Math.floor(r() * 2000) - 1000;
    if (s < 0.88) return Math.round(r() * 1e6) / 1000;
    if (s < 0.95) return r() < 0.5;
    return null;
  }
  const n = Math.floor(r() * 4);
  if (k < 0.7) return Array.from({ length: n }, () => randomData(r, depth - 1));
  const o: { [k: string]: Data } = {};
  for (let i = 0; i < n; i++) o[r() < 0.7 ? pick(['id', 'zone', 'from', 'to', 'allow', 'a b', 'x-y', '1', 'null', 'true']) : String(pick(SCALARS))] = randomData(r, depth - 1);
  return o;
}

/** YAML for `v`, the style of each node picked at random (scalars plain even where that misreads). */
function render(v: Data, r: () => number, indent: number): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const scalar = (x: Data): string => {
    if (typeof x !== 'string') return String(x);
    const s = r();
    return s < 0.6 ? x : s < 0.85 ? JSON.stringify(x) : `'${x.replace(/'/g, "''")}'`;
  };
  // Separators, some breaking the line (indented around the block collection's column).
  const sep = (): string => (r() < 0.85 ? pick([', ', ',', ' , ']) : `,${pick(['', ' # c'])}\n${' '.repeat(Math.max(0, indent - 1 + Math.floor(r() * 4)))}`);
  const flow = (x: Data): string => {
    if (Array.isArray(x)) return `[${x.map(flow).join(sep())}]`;
    if (x !== null && typeof x === 'object') return `{${pick([' ', ''])}${Object.entries(x).map(([k, y]) => `${scalar(k)}: ${flow(y)}`).join(sep())}${pick([' ', ''])}}`;
    return scalar(x);
  };
  const pad = ' '.repeat(indent);
  const comment = (): string => (r() < 0.1 ? pick([' # note', ' #: x', '  # - y']) : '');
  const extra = (): string[] => (r() < 0.08 ? [pick(['', `${pad}# comment`, '# at zero', '   '])] : []);
  if (v === null || typeof v !== 'object' || r() < 0.3) return [`${pad}${flow(v)}${comment()}`];
  const step = 1 + Math.floor(r() * 3);
  const out: string[] = [];
  if (Array.isArray(v)) {
    if (v.length === 0) return [`${pad}[]`];
    for (const item of v) {
      const inner = render(item, r, indent + step);
      const first = inner[0].slice(indent + step);
      const isBlock = item !== null && typeof item === 'object' && !inner[0].trimStart().startsWith('[') && !inner[0].trimStart().startsWith('{');
      if (isBlock && !Array.isArray(item) && r() < 0.7) {
        // A compact mapping: the first key on the dash's line.
        out.push(`${pad}-${' '.repeat(step)}${first}`, ...inner.slice(1), ...extra());
      } else if (isBlock || r() < 0.2) {
        out.push(`${pad}-${comment()}`, ...inner, ...extra());
      } else {
        out.push(`${pad}- ${first.trimStart()}`, ...inner.slice(1), ...extra());
      }
    }
    return out;
  }
  const entries = Object.entries(v);
  if (entries.length === 0) return [`${pad}{}`];
  for (const [k, x] of entries) {
    const key = scalar(k);
    if (x !== null && typeof x === 'object' && r() < 0.7) {
      const compactSeq = Array.isArray(x) && x.length > 0 && r() < 0.3;
      const inner = render(x, r, compactSeq ? indent : indent + step);
      out.push(`${pad}${key}:${comment()}`, ...inner, ...extra());
    } else {
      out.push(`${pad}${key}: ${flow(x)}${comment()}`, ...extra());
    }
  }
  return out;
}

function mutate(text: string, r: () => number): string {
  let t = text;
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
    const at = Math.floor(r() * (t.length + 1));
    const k = r();
    if (k < 0.6) t = t.slice(0, at) + EDITS[Math.floor(r() * EDITS.length)] + t.slice(at);
    else if (k < 0.9) t = t.slice(0, at) + t.slice(at + 1 + Math.floor(r() * 3));
    else {
      const lines = t.split('\n');
      const i = Math.floor(r() * lines.length);
      lines.splice(i, 0, lines[i]);
      t = lines.join('\n');
    }
  }
  return t;
}

test('random texts: whatever the fast reader reads, the yaml package reads the same', () => {
  const seed = Number(process.env.ZG_FAST_YAML_SEED ?? 20261203);
  const r = mulberry32(seed);
  const rounds = Number(process.env.ZG_FAST_YAML_ROUNDS ?? 1500);
  let fastPlain = 0, fastMutated = 0, fastJson = 0;
  for (let i = 0; i < rounds; i++) {
    const data = randomData(r, 4);
    const text = `${render(data, r, 0).join('\n')}${r() < 0.9 ? '\n' : ''}`;
    const what = `seed ${seed} round ${i}`;
    if (agrees(text, `${what} (rendered)`)) fastPlain++;
    if (agrees(mutate(text, r), `${what} (mutated)`)) fastMutated++;
    const json = JSON.stringify(data, null, Math.floor(r() * 3));
    if (agrees(json, `${what} (JSON)`)) fastJson++;
  }
  // The property means something only if the fast path is taken often.
  assert.ok(fastPlain > rounds / 4, `rendered: ${fastPlain} of ${rounds} read fast`);
  assert.ok(fastMutated > rounds / 10, `mutated: ${fastMutated} of ${rounds} read fast`);
  assert.ok(fastJson > rounds / 2, `JSON: ${fastJson} of ${rounds} read fast`);
});

test('the values read do not keep the text alive (a kept slice of 13+ characters held all of it)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  // 8 MB of comment around values long enough to be slices: only the values may stay.
  const read = (): unknown => {
    const pad = `# ${'x'.repeat(998)}\n`.repeat(4000);
    const text = `${pad}settings:\n  onExpiry: keep-enforcing\n${pad}ids: [\"identity-with-a-long-name\", 'single-quoted-long-value']\n${pad}`;
    return readFast(text, LIMITS)?.value;
  };
  gc(); gc();
  const before = process.memoryUsage().heapUsed;
  const value = read() as { settings: { onExpiry: string }; ids: string[] };
  gc(); gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.equal(value.settings.onExpiry, 'keep-enforcing');
  assert.equal(value.ids, ['identity-with-a-long-name', 'single-quoted-long-value']);
  assert.ok(grown < 2_000_000, `the heap kept ${grown} bytes after the 12 MB text was dropped`);
});

test.run();
