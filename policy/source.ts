/**
 * Parses a YAML or JSON text into plain data and keeps the way back from a document path to the
 * line and column it was written at. Generic: the policy, the gateway config and anything else
 * a person writes by hand go through here.
 *
 * Most texts are read by policy/source-fast.ts, which builds the value without positions at a
 * small fraction of the yaml package's time and heap (a 2.4 MB policy: ~0.1 s instead of ~6 s
 * and ~265 MiB); the package's node tree is built only for what that reader leaves to it, and
 * otherwise on the first locate() (a document with problems to report), from the same text.
 *
 * The full reader builds the value by walking the yaml package's node tree (YAML 1.2 core
 * schema), not with its toJS(): every mapping becomes an object with a null prototype, so a
 * `__proto__` key is plain data. Aliases (YAML 1.2 section 3.2.2.2) are expanded with a budget so
 * that a small file cannot expand into billions of nodes, and an alias inside its own anchor is
 * refused.
 */
import { Alias, Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, Scalar } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { ZonegateError } from './errors';
import { readFast } from './source-fast';
import type { Issue } from './errors';

/** A path into the parsed value: mapping keys and list indexes. */
export type SourcePath = readonly (string | number)[];
export type SourceFormat = 'yaml' | 'json';

/** 1-based line and column (in UTF-16 code units, as editors count for most text). */
export interface SourcePosition { line: number; col: number }

/** What parseSource returns: the plain value and the way back to positions. */
export interface ParsedSource {
  /** Plain data: null-prototype objects, arrays, strings, numbers, booleans, null. */
  value: unknown;
  /** Where the value at `path` was written (a mapping entry: its key), or undefined. */
  locate(path: SourcePath): SourcePosition | undefined;
}

export interface ParseSourceOptions {
  /** Shown in error messages; its extension picks the format when `format` is absent. */
  file?: string;
  format?: SourceFormat;
  /** Most alias expansions allowed (each use of `*name` counts). Default 1000. */
  maxAliasCount?: number;
  /** Most nodes the expanded value may hold. Default 10 × the document's own nodes + 100,000. */
  maxNodes?: number;
}

/** The format implied by a file name: `.json` is JSON, everything else YAML. */
export function formatOf(file: string | undefined): SourceFormat {
  return file !== undefined && /\.json$/i.test(file) ? 'json' : 'yaml';
}

function parseError(file: string | undefined, message: string, pos?: SourcePosition): ZonegateError {
  const issue: Issue = { path: '', message, file, line: pos?.line, col: pos?.col };
  const where = file ? ` in ${file}` : '';
  return new ZonegateError('ERR_POLICY_PARSE', `cannot parse${where}: ${message}`, { issues: [issue] });
}

/** JSON.parse reports an offset ("at position 42"); turn it into a line and column. */
function jsonErrorPosition(text: string, message: string): SourcePosition | undefined {
  const m = /position (\d+)/.exec(message);
  let offset: number;
  if (m) offset = Number(m[1]);
  else if (/end of (JSON )?input/i.test(message)) offset = text.length;
  else return undefined;
  return offsetToPos(text, offset);
}

function offsetToPos(text: string, offset: number): SourcePosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) { line++; lineStart = i + 1; }
  }
  return { line, col: offset - lineStart + 1 };
}

/**
 * Parses `text` as YAML (1.2 core schema) or strict JSON. Syntax errors, duplicate keys and alias
 * abuse throw ZonegateError('ERR_POLICY_PARSE') with one issue carrying file, line and col.
 */
export function parseSource(text: string, opts: ParseSourceOptions = {}): ParsedSource {
  if (typeof text !== 'string') throw new TypeError('parseSource needs the text as a string');
  const format = opts.format ?? formatOf(opts.file);
  if (format === 'json') checkJson(text, opts.file);
  const fast = readFast(text, { maxDepth: FAST_MAX_DEPTH, maxNodes: opts.maxNodes });
  if (fast === undefined) return parseFull(text, opts);
  let full: ParsedSource | undefined;
  return {
    value: fast.value,
    locate(path) {
      // The same text read again, with positions: only documents with something to report get here.
      try {
        full ??= parseFull(text, opts);
      } catch {
        return undefined;
      }
      return full.locate(path);
    },
  };
}

/** Deeper texts go to the full reader, which refuses those past MAX_DEPTH with a position. */
const FAST_MAX_DEPTH = 48;

/** Strict JSON (RFC 8259): the YAML readers would also accept YAML flow-style extras. */
function checkJson(text: string, file: string | undefined): void {
  try {
    JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    // The position goes into line:col; the words differ between Node versions.
    const words = msg.replace(/^JSON\.parse: /, '').replace(/,? (in JSON )?at position \d+.*$/s, '');
    throw parseError(file, `invalid JSON: ${words}`, jsonErrorPosition(text, msg));
  }
}

/**
 * parseSource through the yaml package's node tree alone (positions ready); what parseSource
 * falls back to, and what test/policy/source-fast.test.ts compares the fast reader with. JSON is
 * not re-checked here.
 */
export function parseFull(text: string, opts: ParseSourceOptions = {}): ParsedSource {
  const file = opts.file;
  const tooDeep = flowDepthExceeded(text, MAX_FLOW_DEPTH);
  if (tooDeep !== undefined) throw parseError(file, `nested more than ${MAX_FLOW_DEPTH} brackets deep`, offsetToPos(text, tooDeep));
  const lineCounter = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, version: '1.2', strict: true });
  } catch (e) {
    // The parser recurses; absurd nesting can exhaust the stack (RangeError). Anything else is a bug.
    if (e instanceof RangeError) throw parseError(file, 'document is nested too deeply');
    throw e;
  }
  const posOf = (offset: number): SourcePosition => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const first = e.code === 'MULTIPLE_DOCS'
      ? "the file holds more than one YAML document ('---'); write one document"
      : e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : '';
    throw parseError(file, `${first}${more}`, posOf(e.pos[0]));
  }
  const value = toPlain(doc, {
    file,
    posOf,
    maxAliasCount: opts.maxAliasCount ?? 1000,
    maxNodes: opts.maxNodes,
  });
  return {
    value,
    locate: (path) => locateIn(doc, path, posOf),
  };
}

interface ConvertOptions {
  file?: string;
  posOf(offset: number): SourcePosition;
  maxAliasCount: number;
  maxNodes?: number;
}

/**
 * The yaml parser recurses per flow collection and needs hundreds of MB for 100,000 nested `[`;
 * a linear pre-scan refuses such text first. It counts brackets outside comments and ignores
 * quoting, so brackets inside strings count too: harmless below this generous bound.
 */
const MAX_FLOW_DEPTH = 256;

function flowDepthExceeded(text: string, max: number): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) { if (++depth > max) return i; } // [ {
    else if (c === 0x5d || c === 0x7d) { if (depth > 0) depth--; } // ] }
    else if (c === 0x23 && (i === 0 || text.charCodeAt(i - 1) <= 0x20)) { // # comment to end of line
      while (i < text.length && text.charCodeAt(i) !== 0x0a) i++;
    }
  }
  return undefined;
}

/** Deeper documents are refused (a policy is a few levels deep; recursion must stay bounded). */
const MAX_DEPTH = 64;

function countNodes(node: unknown): number {
  let n = 0;
  const stack: unknown[] = [node];
  while (stack.length) {
    const x = stack.pop();
    n++;
    if (isMap(x)) for (const p of x.items) { stack.push(p.key); stack.push(p.value); }
    else if (isSeq(x)) for (const i of x.items) stack.push(i);
  }
  return n;
}

function toPlain(doc: Document, o: ConvertOptions): unknown {
  if (doc.contents === null || doc.contents === undefined) return null;
  const maxNodes = o.maxNodes ?? countNodes(doc.contents) * 10 + 100_000;
  let produced = 0;
  let aliases = 0;
  const open = new Set<unknown>();
  const fail = (message: string, node: unknown): never => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    throw parseError(o.file, message, range ? o.posOf(range[0]) : undefined);
  };
  let depth = 0;
  const convert = (node: unknown): unknown => {
    if (++produced > maxNodes) fail(`document expands to more than ${maxNodes} nodes (alias bomb?)`, node);
    if (depth > MAX_DEPTH) fail(`nested more than ${MAX_DEPTH} levels deep`, node);
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      if (++aliases > o.maxAliasCount) fail(`more than ${o.maxAliasCount} alias expansions`, node);
      const target = (node as Alias).resolve(doc);
      if (!target) fail(`unknown alias *${(node as Alias).source}`, node);
      if (open.has(target)) fail(`alias *${(node as Alias).source} refers to a node that contains it`, node);
      return convert(target);
    }
    if (isScalar(node)) return scalarValue(node as Scalar, fail);
    if (isMap(node)) {
      depth++;
      open.add(node);
      const out: Record<string, unknown> = Object.create(null);
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = keyText(pair.key, fail);
        out[key] = convert(pair.value);
      }
      open.delete(node);
      depth--;
      return out;
    }
    if (isSeq(node)) {
      depth++;
      open.add(node);
      const out = node.items.map((item) => convert(item));
      open.delete(node);
      depth--;
      return out;
    }
    return fail('unsupported YAML node', node);
  };
  return convert(doc.contents);
}

function scalarValue(node: Scalar, fail: (m: string, n: unknown) => never): unknown {
  const v = node.value;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return fail(`number ${String(v)} is not allowed`, node);
    return v;
  }
  if (typeof v === 'bigint') return Number(v);
  return fail('unsupported scalar (custom tag?)', node);
}

function keyText(key: unknown, fail: (m: string, n: unknown) => never): string {
  if (isScalar(key)) {
    const v = (key as Scalar).value;
    if (v === null) return '';
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  }
  if (isAlias(key)) return fail('aliases as mapping keys are not supported', key);
  return fail('mapping keys must be plain strings', key);
}

function nodeStart(node: unknown): number | undefined {
  const r = (node as { range?: [number, number, number] } | null)?.range;
  return r ? r[0] : undefined;
}

/** Walks the node tree along `path`; a mapping entry resolves to its key, a sequence item to itself. */
function locateIn(doc: Document, path: SourcePath, posOf: (o: number) => SourcePosition): SourcePosition | undefined {
  let node: unknown = doc.contents;
  let at: number | undefined = nodeStart(node);
  for (const seg of path) {
    let guard = 0;
    while (isAlias(node) && guard++ < 100) node = (node as Alias).resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String((p.key as Scalar).value) === String(seg));
      if (!pair) return undefined;
      at = nodeStart(pair.key) ?? at;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (item === undefined) return undefined;
      at = nodeStart(item) ?? at;
      node = item;
    } else {
      return undefined;
    }
  }
  return at === undefined ? undefined : posOf(at);
}
