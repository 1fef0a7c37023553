/**
 * The architecture checker test/architecture.test.ts runs over the source tree (and, to prove it
 * can fail, over small synthetic trees): it reads every .ts file under the layer folders with the
 * TypeScript parser, collects every import (import and `import type`, export-from, import =
 * require, require(), dynamic import(), `typeof import()`), and reports
 *
 *   layer     a file importing a layer its own layer may not import (design.md "Layout")
 *   outside   a file importing a path that lies in no layer folder (test/, build/, ...)
 *   node-io   a policy/ file importing a Node module that does I/O, timers or processes
 *   cycle     a set of files that import each other, with one cycle path through them
 *   size      a file over maxFileLines lines
 *   function  a function (declaration, method, accessor, constructor, arrow or function
 *             expression) over maxFunctionLines lines, from its first token to its closing brace
 *   allow     an allow-list entry without a reason, or one that no longer matches anything
 *
 * Each problem is one line that names the file (and line), so a failing test says what to fix.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix } from 'node:path';
import * as ts from 'typescript';

export interface ArchitectureRules {
  /** Layer folder → the other layer folders its files may import. Every key is a layer. */
  layers: Record<string, readonly string[]>;
  /** Layers whose files may import only the Node modules in `pureNodeModules`. */
  noIo: readonly string[];
  /** Node modules without I/O (`crypto`, `buffer`, ...), spelled without the `node:` prefix. */
  pureNodeModules: readonly string[];
  maxFileLines: number;
  maxFunctionLines: number;
  allow: AllowList;
}

export interface AllowList {
  /** Path → reason: a file that may pass maxFileLines. */
  files: Record<string, string>;
  /** `path#name` → reason: functions of that name in that file may pass maxFunctionLines. */
  functions: Record<string, string>;
  /** Import cycles among these files are allowed (each cycle's files all in one entry). */
  cycles: ReadonlyArray<{ files: readonly string[]; reason: string }>;
}

export interface SourceFacts {
  /** Repo-relative path → the repo-relative .ts files it imports (in import order, no repeats). */
  imports: Map<string, string[]>;
  /** Path → its line count. */
  lines: Map<string, number>;
  /** `path#name` of every function over the limit, allow-listed or not. */
  longFunctions: Set<string>;
  problems: string[];
}

interface Parsed {
  path: string;
  lines: number;
  specifiers: { spec: string; line: number }[];
  functions: { name: string; line: number; length: number }[];
}

const NODE_BUILTINS = new Set(builtinModules.map((m) => m.replace(/^node:/, '')));

/** Every .ts file under the layer folders, repo-relative with `/`, sorted. */
export function listSources(root: string, layers: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = join(root, rel);
    if (!existsSync(abs)) return;
    for (const name of readdirSync(abs).sort()) {
      const r = posix.join(rel, name);
      if (statSync(join(root, r)).isDirectory()) walk(r);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(r);
    }
  };
  for (const l of layers) walk(l);
  return out;
}

function functionName(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (named.name) return named.name.getText(sf);
  const p = node.parent;
  if (p && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name) return p.name.getText(sf);
  return '<anonymous>';
}

function isFunctionLike(n: ts.Node): n is ts.FunctionLikeDeclaration {
  return ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n)
    || ts.isConstructorDeclaration(n) || ts.isGetAccessorDeclaration(n) || ts.isSetAccessorDeclaration(n);
}

/** Parses one file: its import specifiers (with lines) and the length of every function. */
export function parseSource(path: string, text: string): Parsed {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const parsed: Parsed = { path, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0), specifiers: [], functions: [] };
  const addSpec = (lit: ts.Node | undefined, at: ts.Node) => {
    if (lit && ts.isStringLiteralLike(lit)) parsed.specifiers.push({ spec: lit.text, line: lineOf(at.getStart(sf)) });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) addSpec(n.moduleSpecifier, n);
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) addSpec(n.moduleReference.expression, n);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) addSpec(n.argument.literal, n);
    else if (ts.isCallExpression(n) && n.arguments.length >= 1
      && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) {
      addSpec(n.arguments[0], n);
    }
    if (isFunctionLike(n) && n.body) {
      const first = lineOf(n.getStart(sf));
      parsed.functions.push({ name: functionName(n, sf), line: first, length: lineOf(n.end) - first + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return parsed;
}

/** The repo-relative .ts file a relative specifier names, or undefined when it names none. */
function resolveRelative(root: string, from: string, spec: string): string | undefined {
  const base = posix.normalize(posix.join(posix.dirname(from), spec));
  for (const c of [base, `${base}.ts`, `${base}/index.ts`]) {
    if (c.endsWith('.ts') && existsSync(join(root, c)) && statSync(join(root, c)).isFile()) return c;
  }
  return base.startsWith('..') ? undefined : base;
}

function layerOf(path: string, rules: ArchitectureRules): string | undefined {
  const top = path.split('/')[0];
  return Object.prototype.hasOwnProperty.call(rules.layers, top) ? top : undefined;
}

function checkImport(p: Parsed, s: { spec: string; line: number }, root: string, rules: ArchitectureRules, out: SourceFacts): void {
  const from = layerOf(p.path, rules)!;
  const where = `${p.path}:${s.line}`;
  if (!s.spec.startsWith('.')) {
    const bare = s.spec.replace(/^node:/, '');
    const mod = bare.split('/')[0];
    const isNode = s.spec.startsWith('node:') || NODE_BUILTINS.has(bare) || NODE_BUILTINS.has(mod);
    if (isNode && rules.noIo.includes(from) && !rules.pureNodeModules.includes(bare)) {
      out.problems.push(`node-io: ${where} imports ${s.spec} (${from}/ does no I/O; it may use ${rules.pureNodeModules.join(', ')})`);
    }
    return;
  }
  const target = resolveRelative(root, p.path, s.spec);
  const to = target === undefined ? undefined : layerOf(target, rules);
  if (target === undefined || to === undefined) {
    out.problems.push(`outside: ${where} imports ${s.spec}, which is in no layer folder`);
    return;
  }
  if (to !== from && !rules.layers[from].includes(to)) {
    const may = rules.layers[from].length ? rules.layers[from].map((l) => `${l}/`).join(', ') : 'nothing of ours';
    out.problems.push(`layer: ${where} imports ${target} (${from}/ may import ${may})`);
  }
  if (target.endsWith('.ts')) {
    const list = out.imports.get(p.path)!;
    if (!list.includes(target)) list.push(target);
  }
}

/** Reads and checks every source file: imports, sizes, function lengths (not cycles). */
export function readSources(root: string, rules: ArchitectureRules): SourceFacts {
  const out: SourceFacts = { imports: new Map(), lines: new Map(), longFunctions: new Set(), problems: [] };
  for (const path of listSources(root, Object.keys(rules.layers))) {
    const p = parseSource(path, readFileSync(join(root, path), 'utf8'));
    out.imports.set(path, []);
    out.lines.set(path, p.lines);
    for (const s of p.specifiers) checkImport(p, s, root, rules, out);
    if (p.lines > rules.maxFileLines && !rules.allow.files[path]) {
      out.problems.push(`size: ${path} has ${p.lines} lines (at most ${rules.maxFileLines}; split it, or allow-list it with a reason)`);
    }
    for (const f of p.functions) {
      if (f.length > rules.maxFunctionLines) out.longFunctions.add(`${path}#${f.name}`);
      if (f.length > rules.maxFunctionLines && !rules.allow.functions[`${path}#${f.name}`]) {
        out.problems.push(`function: ${path}:${f.line} ${f.name} has ${f.length} lines (at most ${rules.maxFunctionLines})`);
      }
    }
  }
  return out;
}

/** The strongly connected groups of more than one file (Tarjan), each sorted, in path order. */
export function importCycles(imports: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of imports.get(v) ?? []) {
      if (!index.has(w)) { connect(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do { w = stack.pop()!; onStack.delete(w); group.push(w); } while (w !== v);
    if (group.length > 1 || (imports.get(v) ?? []).includes(v)) groups.push(group.sort());
  };
  for (const v of [...imports.keys()].sort()) if (!index.has(v)) connect(v);
  return groups.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** One shortest cycle through the group's first file: `a.ts -> b.ts -> a.ts`. */
export function cyclePath(group: readonly string[], imports: Map<string, string[]>): string {
  const start = group[0];
  const inGroup = new Set(group);
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of imports.get(v) ?? []) {
      if (!inGroup.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let x: string | undefined = v; x !== undefined && x !== start; x = prev.get(x)) path.splice(1, 0, x);
        return [...path, start].join(' -> ');
      }
      if (!prev.has(w) && w !== start) { prev.set(w, v); queue.push(w); }
    }
  }
  return group.join(', ');
}

function staleEntries(facts: SourceFacts, groups: string[][], rules: ArchitectureRules): string[] {
  const out: string[] = [];
  const { allow } = rules;
  const noReason = (what: string, reason: string) => { if (!reason.trim()) out.push(`allow: ${what} has no reason`); };
  for (const [path, reason] of Object.entries(allow.files)) {
    noReason(path, reason);
    const n = facts.lines.get(path);
    if (n === undefined || n <= rules.maxFileLines) out.push(`allow: ${path} is ${n === undefined ? 'gone' : `${n} lines now`}; remove its entry from the allow-list`);
  }
  for (const [key, reason] of Object.entries(allow.functions)) {
    noReason(key, reason);
    if (!facts.longFunctions.has(key)) out.push(`allow: ${key} is no longer over ${rules.maxFunctionLines} lines (or gone); remove its entry from the allow-list`);
  }
  for (const c of allow.cycles) {
    noReason(c.files.join(', '), c.reason);
    if (!groups.some((g) => g.some((f) => c.files.includes(f)))) out.push(`allow: no cycle among ${c.files.join(', ')} any more; remove its entry from the allow-list`);
  }
  return out;
}

/** Every problem of the tree under `root`, one line each; empty when the tree keeps the rules. */
export function checkArchitecture(root: string, rules: ArchitectureRules): string[] {
  const facts = readSources(root, rules);
  const groups = importCycles(facts.imports);
  const problems = [...facts.problems];
  for (const g of groups) {
    if (rules.allow.cycles.some((c) => g.every((f) => c.files.includes(f)))) continue;
    const path = cyclePath(g, facts.imports);
    const more = path.split(' -> ').length - 1 < g.length ? ` (${g.length} files import each other: ${g.join(', ')})` : '';
    problems.push(`cycle: ${path}${more}`);
  }
  return [...problems, ...staleEntries(facts, groups, rules)];
}
