/**
 * The layers of design.md "Layout", checked on every .ts import of the source tree
 * (test/helpers/architecture.ts): policy/ <- protocol/ <- drivers/ <- runtime/ and fleet/ (which
 * never import each other) <- cli/; no import cycle between files; policy/ without Node I/O;
 * files under 400 lines and functions under 80. The checker is first run on small trees written
 * to a temp folder, each with one planted violation, so this test is known to fail when it should.
 *
 * The allow-list below is the debt the tree carries today, each entry with its reason. An entry
 * that no longer matches anything fails the test too: when a split lands, delete its entries.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkArchitecture, type AllowList, type ArchitectureRules } from './helpers/architecture';

const PARSER = 'one pass over one input, step by step; reads better whole (not split yet)';

const ALLOW: AllowList = {
  files: {},
  functions: {
    'policy/bundle/decode-cbor.ts#decodeCborSteps': 'the one CBOR profile decoder: one loop over an explicit, bounded container stack, a state machine that reads better whole',
    'drivers/dnp3/app.ts#parseFragment': `${PARSER}: a DNP3 application fragment, header by header`,
  },
  cycles: [],
};

const LAYERS: ArchitectureRules['layers'] = {
  policy: [],
  protocol: ['policy'],
  drivers: ['policy', 'protocol'],
  runtime: ['policy', 'protocol', 'drivers'],
  fleet: ['policy', 'protocol'],
  cli: ['policy', 'protocol', 'drivers', 'runtime', 'fleet'],
};

const RULES: ArchitectureRules = {
  layers: LAYERS,
  noIo: ['policy'],
  pureNodeModules: ['buffer', 'crypto', 'util', 'string_decoder'],
  maxFileLines: 400,
  maxFunctionLines: 80,
  allow: ALLOW,
};

const NONE: AllowList = { files: {}, functions: {}, cycles: [] };

/** Writes `files` (path → text) into a new temp folder and checks it with RULES and `allow`. */
function check(files: Record<string, string>, allow: AllowList = NONE): string[] {
  const root = mkdtempSync(join(tmpdir(), 'zg-arch-'));
  try {
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), text);
    }
    return checkArchitecture(root, { ...RULES, allow });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** A function of exactly `lines` lines. */
const fn = (name: string, lines: number) => `export function ${name}(): number {\n${'  void 0;\n'.repeat(lines - 3)}  return 1;\n}\n`;

test('a tree that keeps the rules has no problems', () => {
  assert.equal(check({
    'policy/a.ts': "import { createHash } from 'node:crypto';\nexport const a = createHash;\n",
    'protocol/p.ts': "import { a } from '../policy/a';\nexport const p = a;\n",
    'drivers/d.ts': "import type { p } from '../protocol/p';\nexport type D = typeof p;\n",
    'runtime/r.ts': "import '../drivers/d';\nexport * from '../protocol/p';\n",
    'fleet/f.ts': "export { p } from '../protocol/p';\n",
    'cli/c.ts': "import '../runtime/r';\nimport '../fleet/f';\nimport { x } from 'yaml';\n",
  }), []);
});

test('runtime/ and fleet/ importing each other, and protocol/ importing drivers/, are layer problems', () => {
  assert.equal(check({
    'runtime/r.ts': "import { f } from '../fleet/f';\nexport const r = f;\n",
    'fleet/f.ts': "\nexport const f = 1;\nexport async function g() { return import('../runtime/r'); }\n",
    'protocol/p.ts': "const d = require('../drivers/d');\n",
    'drivers/d.ts': "export type T = typeof import('../cli/c');\n",
    'cli/c.ts': 'export const c = 1;\n',
  }), [
    'layer: protocol/p.ts:1 imports drivers/d.ts (protocol/ may import policy/)',
    'layer: drivers/d.ts:1 imports cli/c.ts (drivers/ may import policy/, protocol/)',
    'layer: runtime/r.ts:1 imports fleet/f.ts (runtime/ may import policy/, protocol/, drivers/)',
    'layer: fleet/f.ts:3 imports runtime/r.ts (fleet/ may import policy/, protocol/)',
    'cycle: fleet/f.ts -> runtime/r.ts -> fleet/f.ts',
  ]);
});

test('policy/ importing Node I/O (with or without node:) is a problem; crypto and buffer are not', () => {
  assert.equal(check({
    'policy/a.ts': "import { readFileSync } from 'node:fs';\nimport { createHash } from 'crypto';\nimport type { Socket } from 'net';\nconst cp = require('child_process');\nimport * as fsp from 'fs/promises';\n",
    'policy/b.ts': "import { Buffer } from 'node:buffer';\nexport { setTimeout } from 'node:timers';\n",
    'runtime/ok.ts': "import { readFileSync } from 'node:fs';\n",
  }), [
    'node-io: policy/a.ts:1 imports node:fs (policy/ does no I/O; it may use buffer, crypto, util, string_decoder)',
    'node-io: policy/a.ts:3 imports net (policy/ does no I/O; it may use buffer, crypto, util, string_decoder)',
    'node-io: policy/a.ts:4 imports child_process (policy/ does no I/O; it may use buffer, crypto, util, string_decoder)',
    'node-io: policy/a.ts:5 imports fs/promises (policy/ does no I/O; it may use buffer, crypto, util, string_decoder)',
    'node-io: policy/b.ts:2 imports node:timers (policy/ does no I/O; it may use buffer, crypto, util, string_decoder)',
  ]);
});

test('an import cycle is reported with its path, type-only imports and index folders included', () => {
  assert.equal(check({
    'policy/a.ts': "import { b } from './b';\nexport const a = b;\n",
    'policy/b.ts': "import type { C } from './c';\nexport const b = 1;\n",
    'policy/c/index.ts': "import { a } from '../a';\nexport type C = typeof a;\n",
    'policy/d.ts': "import { a } from './a';\n",
  }), ['cycle: policy/a.ts -> policy/b.ts -> policy/c/index.ts -> policy/a.ts']);
});

test('a file over 400 lines and a function over 80 are problems; exactly 400 and 80 are not', () => {
  assert.equal(check({
    'runtime/big.ts': '// x\n'.repeat(401),
    'runtime/edge.ts': '// x\n'.repeat(400),
    'runtime/fns.ts': fn('ok', 80) + fn('long', 81) + `export const arrow = () => {\n${'  void 0;\n'.repeat(80)}};\nclass K {\n  method(): void {\n${'    void 0;\n'.repeat(80)}  }\n}\nexport { K };\n`,
  }), [
    'size: runtime/big.ts has 401 lines (at most 400; split it, or allow-list it with a reason)',
    'function: runtime/fns.ts:81 long has 81 lines (at most 80)',
    'function: runtime/fns.ts:162 arrow has 82 lines (at most 80)',
    'function: runtime/fns.ts:245 method has 82 lines (at most 80)',
  ]);
});

test('the allow-list silences what it names, and fails on an entry without a reason or that matches nothing', () => {
  const files = {
    'runtime/big.ts': `${'// x\n'.repeat(400)}${fn('long', 81)}`,
    'policy/a.ts': "import './b';\n",
    'policy/b.ts': "import './a';\n",
  };
  assert.equal(check(files, {
    files: { 'runtime/big.ts': 'a state machine that reads better whole' },
    functions: { 'runtime/big.ts#long': 'same' },
    cycles: [{ files: ['policy/a.ts', 'policy/b.ts'], reason: 'being untangled' }],
  }), []);
  assert.equal(check(files, {
    files: { 'runtime/big.ts': ' ', 'runtime/gone.ts': 'x' },
    functions: { 'runtime/big.ts#long': 'same', 'runtime/big.ts#short': 'x' },
    cycles: [{ files: ['policy/a.ts', 'policy/b.ts'], reason: 'y' }, { files: ['policy/x.ts', 'policy/y.ts'], reason: 'z' }],
  }), [
    'allow: runtime/big.ts has no reason',
    'allow: runtime/gone.ts is gone; remove its entry from the allow-list',
    'allow: runtime/big.ts#short is no longer over 80 lines (or gone); remove its entry from the allow-list',
    'allow: no cycle among policy/x.ts, policy/y.ts any more; remove its entry from the allow-list',
  ]);
});

test('an import of a folder outside the layers (test/, build/) is a problem', () => {
  assert.equal(check({ 'runtime/r.ts': "import { x } from '../test/helpers/x';\n", 'test/helpers/x.ts': 'export const x = 1;\n' }),
    ['outside: runtime/r.ts:1 imports ../test/helpers/x, which is in no layer folder']);
});

test('the source tree keeps the layers of design.md', () => {
  const problems = checkArchitecture(process.cwd(), RULES);
  assert.ok(problems.length === 0, `\n${problems.join('\n')}\n`);
});

test.run();
