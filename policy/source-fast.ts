/**
 * A fast reader for the plain YAML policies and configs are written in: block mappings and
 * sequences indented with spaces, flow collections (across lines too, indented past their block
 * collection), plain, single- and double-quoted one-line scalars, comments; JSON too. It builds
 * the same plain data as parseSource's walk of the yaml package's node tree (YAML 1.2 core
 * schema; null-prototype mappings), at a small fraction of its time and heap, and keeps no
 * positions.
 *
 * It is a fast path, never a second dialect: on anything outside that subset, or anything it is
 * unsure the yaml package reads the same way (anchors, aliases, tags, block scalars, multi-line
 * plain or quoted scalars, tabs, CR, `---`, complex keys, duplicate keys, escapes JSON does not
 * write, non-printable characters, .inf/.nan, empty flow entries), it gives up and returns
 * undefined, and the caller reads the text with the yaml package, which also reports the errors
 * with their line and column. test/policy/source-fast.test.ts checks on fixtures and on random
 * texts that whatever this returns is what the yaml package's reader returns.
 */
import {
  GIVE_UP, giveUp, isFlowIndicator, isIndicator, keyOf, resolvePlain, MAX_KEY,
  LF, SP, HASH, DQ, SQ, COMMA, DASH, DOT, COLON, LBRACK, BSLASH, RBRACK, LBRACE, RBRACE,
} from './source-fast-scalars';

/**
 * Characters the reader leaves to the yaml package: controls other than LF (tab and CR
 * included), DEL and C1, surrogates, BOM, U+FFFE/U+FFFF, the Unicode line separators and the
 * non-ASCII spaces (YAML's whitespace is space and tab only; no need to find out what a reader
 * does with these).
 */
const NOT_SIMPLE = /[\x00-\x09\x0b-\x1f\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff\ufeff\ufffe\uffff]/;

/**
 * A scalar as a string of its own. V8 makes a slice of 13 or more characters a view into the text
 * it was cut from, so that one value kept (a policy's `onExpiry: keep-enforcing`, an identity's
 * address) kept the whole text alive: 4.7 MiB for a 10,000-conduit policy. Copied through a
 * concatenation, which V8 flattens into a new string of the slice's length plus one.
 */
const own = (s: string): string => (s.length < 13 ? s : (` ${s}`).slice(1));

/** Limits the caller applies to the value (the yaml package's reader refuses deeper documents). */
export interface FastLimits {
  /** Most nesting of collections; deeper texts are left to the full reader. */
  maxDepth: number;
  /** Most nodes (collections and scalars); larger texts are left to the full reader. */
  maxNodes?: number;
}

/**
 * The plain value of `text` when it is in the simple subset, else undefined (read it with the
 * yaml package). Never throws on any text.
 */
export function readFast(text: string, limits: FastLimits): { value: unknown } | undefined {
  if (NOT_SIMPLE.test(text)) return undefined;
  try {
    return { value: new FastReader(text, limits).document() };
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    throw e;
  }
}

/**
 * Recursive descent over the text. Block functions leave `pos` at the first character of the
 * next content line (`col` its column) or at the end (`col` -1).
 */
class FastReader {
  private pos = 0;
  private lineStart = 0;
  private col = -1;
  private depth = 0;
  private nodes = 0;
  /** The key the last successful scanKey read. */
  private key = '';

  constructor(private readonly t: string, private readonly limits: FastLimits) {}

  document(): unknown {
    this.nextLine();
    if (this.col < 0) giveUp(); // empty: null, the full reader says so
    const v = this.block(this.col, -1);
    if (this.col >= 0) giveUp(); // content left over
    return v;
  }

  private node(): void {
    if (this.limits.maxNodes !== undefined && ++this.nodes > this.limits.maxNodes) giveUp();
  }

  private enter(): void {
    if (++this.depth > this.limits.maxDepth) giveUp();
    this.node();
  }

  private blankAt(i: number): boolean {
    return i >= this.t.length || this.t.charCodeAt(i) === SP || this.t.charCodeAt(i) === LF;
  }

  /** From a line start: skips blank and comment lines; sets pos and col to the next content. */
  private nextLine(): void {
    const t = this.t;
    let i = this.pos;
    for (;;) {
      const start = i;
      while (t.charCodeAt(i) === SP) i++;
      if (i >= t.length) { this.pos = t.length; this.col = -1; return; }
      const c = t.charCodeAt(i);
      if (c === LF) { i++; continue; }
      if (c === HASH) { const nl = t.indexOf('\n', i); if (nl < 0) { this.pos = t.length; this.col = -1; return; } i = nl + 1; continue; }
      // Directives and document markers are the full reader's.
      if (i === start && (c === 37 || ((c === DASH || c === DOT) && t.startsWith(c === DASH ? '---' : '...', i)))) giveUp();
      this.lineStart = start;
      this.pos = i;
      this.col = i - start;
      return;
    }
  }

  /** After a value on a line: spaces, maybe a comment, the end of the line; then the next content. */
  private endLine(): void {
    const t = this.t;
    let i = this.pos;
    while (t.charCodeAt(i) === SP) i++;
    if (i < t.length && t.charCodeAt(i) !== LF) {
      if (t.charCodeAt(i) !== HASH || i === this.pos) giveUp(); // a comment needs a space before it
      i = t.indexOf('\n', i);
      if (i < 0) i = t.length;
    }
    this.pos = i < t.length ? i + 1 : i;
    this.nextLine();
  }

  /** A node starting at pos, column col, inside a block collection indented `parent`. */
  private block(col: number, parent: number): unknown {
    const t = this.t;
    if (t.charCodeAt(this.pos) === DASH && this.blankAt(this.pos + 1)) return this.seq(col);
    if (this.scanKey() >= 0) return this.map(col);
    const v = this.inline(parent);
    this.endLine();
    return v;
  }

  private map(col: number): Record<string, unknown> {
    this.enter();
    const out: Record<string, unknown> = Object.create(null);
    for (;;) {
      const after = this.scanKey();
      if (after < 0) giveUp();
      const key = this.key;
      if (key in out) giveUp(); // duplicate: an error the full reader locates
      this.pos = after;
      out[key] = this.valueAfter(col, true);
      if (this.col < col) break;
      if (this.col > col) giveUp();
      if (this.t.charCodeAt(this.pos) === DASH && this.blankAt(this.pos + 1)) giveUp();
    }
    this.depth--;
    return out;
  }

  private seq(col: number): unknown[] {
    this.enter();
    const out: unknown[] = [];
    for (;;) {
      this.pos++; // the '-'
      out.push(this.valueAfter(col, false));
      if (this.col < col) break;
      if (this.col > col) giveUp();
      // A line at the same column that is not an item ends a sequence written at its key's column.
      if (!(this.t.charCodeAt(this.pos) === DASH && this.blankAt(this.pos + 1))) break;
    }
    this.depth--;
    return out;
  }

  /** The value after `key:` (inMap) or `-`, whose collection sits at column col. */
  private valueAfter(col: number, inMap: boolean): unknown {
    const t = this.t;
    while (t.charCodeAt(this.pos) === SP) this.pos++;
    const c = this.pos < t.length ? t.charCodeAt(this.pos) : LF;
    if (c === LF || c === HASH) {
      // Nothing more on this line (the '#' follows a space: keys and items end in one).
      const nl = t.indexOf('\n', this.pos);
      this.pos = nl < 0 ? t.length : nl + 1;
      this.nextLine();
      if (this.col > col) return this.block(this.col, col);
      if (inMap && this.col === col && t.charCodeAt(this.pos) === DASH && this.blankAt(this.pos + 1)) return this.seq(col);
      this.node();
      return null;
    }
    if (c === DASH && this.blankAt(this.pos + 1)) giveUp(); // `- - x`, `key: - x`
    if (!inMap && this.scanKey() >= 0) return this.map(this.pos - this.lineStart);
    const v = this.inline(col);
    this.endLine();
    return v;
  }

  /** A scalar or a flow collection (which may go on over lines indented past `parent`). */
  private inline(parent: number, inFlow = false): unknown {
    const c = this.t.charCodeAt(this.pos);
    if (c === LBRACK || c === LBRACE) return this.flow(parent);
    this.node();
    if (c === DQ) return own(this.doubleQuoted());
    if (c === SQ) return own(this.singleQuoted());
    const v = resolvePlain(this.plain(inFlow));
    return typeof v === 'string' ? own(v) : v;
  }

  /**
   * When the line at pos reads `key:` (a plain or quoted implicit key, then ':' and a space or
   * the end of the line), sets this.key and returns the index after the ':'; else -1.
   */
  private scanKey(): number {
    const t = this.t;
    const start = this.pos;
    const c = t.charCodeAt(start);
    if (c === DQ || c === SQ) {
      const s = c === DQ ? this.doubleQuoted() : this.singleQuoted();
      let i = this.pos;
      this.pos = start;
      while (t.charCodeAt(i) === SP) i++;
      if (t.charCodeAt(i) !== COLON || !this.blankAt(i + 1)) return -1;
      if (s.length > MAX_KEY) giveUp();
      this.key = s;
      return i + 1;
    }
    if (c === LBRACK || c === LBRACE) return -1;
    if (isIndicator(c) || (c === DASH && this.blankAt(start + 1))) giveUp();
    for (let i = start; i < t.length; i++) {
      const x = t.charCodeAt(i);
      if (x === LF) return -1;
      if (x === COLON && this.blankAt(i + 1)) {
        if (i - start > MAX_KEY) giveUp();
        let end = i;
        while (end > start && t.charCodeAt(end - 1) === SP) end--;
        this.key = keyOf(resolvePlain(t.slice(start, end)));
        return i + 1;
      }
      if (x === SP && t.charCodeAt(i + 1) === HASH) return -1;
    }
    return -1;
  }

  /**
   * A plain scalar: in block context to the end of the line or a comment (a `: ` inside is a
   * mapping in a value, the full reader's error); in flow context also to a flow indicator or `: `.
   */
  private plain(inFlow: boolean): string {
    const t = this.t;
    const start = this.pos;
    const c = t.charCodeAt(start);
    if (isIndicator(c) || (c === DASH && (this.blankAt(start + 1) || (inFlow && isFlowIndicator(t.charCodeAt(start + 1)))))) giveUp();
    let end = start;
    for (let i = start; i < t.length; i++) {
      const x = t.charCodeAt(i);
      if (x === LF || (inFlow && isFlowIndicator(x))) break;
      if (x === SP) { if (t.charCodeAt(i + 1) === HASH) break; continue; }
      if (x === COLON && (this.blankAt(i + 1) || (inFlow && isFlowIndicator(t.charCodeAt(i + 1))))) {
        if (inFlow) break;
        giveUp();
      }
      end = i + 1;
    }
    if (end === start) giveUp();
    this.pos = end;
    return t.slice(start, end);
  }

  /** "..." on one line; only the escapes JSON.stringify writes. */
  private doubleQuoted(): string {
    const t = this.t;
    let i = this.pos + 1;
    let out = '';
    let from = i;
    for (;;) {
      if (i >= t.length) giveUp();
      const x = t.charCodeAt(i);
      if (x === DQ) break;
      if (x === LF) giveUp();
      if (x === BSLASH) {
        out += t.slice(from, i);
        const e = t.charCodeAt(i + 1);
        if (e === DQ) out += '"';
        else if (e === BSLASH) out += '\\';
        else if (e === 110) out += '\n';
        else if (e === 116) out += '\t';
        else if (e === 114) out += '\r';
        else if (e === 98) out += '\b';
        else if (e === 102) out += '\f';
        else if (e === 117) {
          const hex = t.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) giveUp();
          const code = parseInt(hex, 16);
          if (code >= 0xd800 && code <= 0xdfff) giveUp();
          out += String.fromCharCode(code);
          i += 4;
        } else giveUp();
        i += 2;
        from = i;
        continue;
      }
      i++;
    }
    out += t.slice(from, i);
    this.pos = i + 1;
    return out;
  }

  /** '...' on one line ('' is a quote). */
  private singleQuoted(): string {
    const t = this.t;
    let i = this.pos + 1;
    let out = '';
    for (;;) {
      const q = t.indexOf("'", i);
      const nl = t.indexOf('\n', i);
      if (q < 0 || (nl >= 0 && nl < q)) giveUp();
      out += t.slice(i, q);
      if (t.charCodeAt(q + 1) === SQ) { out += "'"; i = q + 2; continue; }
      this.pos = q + 1;
      return out;
    }
  }

  /** Spaces, line breaks and comments inside a flow collection (content lines indented past `parent`). */
  private flowSpace(parent: number): void {
    const t = this.t;
    for (;;) {
      const x = t.charCodeAt(this.pos);
      if (x === SP) { this.pos++; continue; }
      if (x === LF) {
        this.pos++;
        // Inside a block collection, a line holding flow content is indented past it (blank and
        // comment lines may sit anywhere).
        let i = this.pos;
        while (t.charCodeAt(i) === SP) i++;
        const c = t.charCodeAt(i);
        if (i - this.pos <= parent && i < t.length && c !== LF && c !== HASH) giveUp();
        this.pos = i;
        continue;
      }
      if (x === HASH) {
        const before = t.charCodeAt(this.pos - 1);
        if (before !== SP && before !== LF) giveUp();
        const nl = t.indexOf('\n', this.pos);
        if (nl < 0) giveUp();
        this.pos = nl; // the line break next: the following line's indentation is checked there
        continue;
      }
      return;
    }
  }

  private flow(parent: number): unknown {
    const t = this.t;
    const isSeq = t.charCodeAt(this.pos) === LBRACK;
    const close = isSeq ? RBRACK : RBRACE;
    this.enter();
    this.pos++;
    const list: unknown[] = [];
    const map: Record<string, unknown> = Object.create(null);
    this.flowSpace(parent);
    if (t.charCodeAt(this.pos) === close) { this.pos++; this.depth--; return isSeq ? list : map; }
    for (;;) {
      if (this.pos >= t.length) giveUp();
      const c = t.charCodeAt(this.pos);
      if (c === COMMA || c === RBRACK || c === RBRACE) giveUp(); // an empty entry
      if (isSeq) {
        list.push(this.inline(parent, true));
        this.flowSpace(parent);
        if (t.charCodeAt(this.pos) === COLON) giveUp(); // a pair inside a sequence
      } else {
        let key: string;
        if (c === DQ) key = this.doubleQuoted();
        else if (c === SQ) key = this.singleQuoted();
        else if (c === LBRACK || c === LBRACE) return giveUp();
        else key = keyOf(resolvePlain(this.plain(true)));
        if (key.length > MAX_KEY) giveUp();
        while (t.charCodeAt(this.pos) === SP) this.pos++;
        if (t.charCodeAt(this.pos) !== COLON) giveUp(); // a key without a value
        this.pos++;
        if (key in map) giveUp();
        this.flowSpace(parent);
        const v = t.charCodeAt(this.pos);
        if (v === COMMA || v === RBRACE || v === RBRACK || this.pos >= t.length) giveUp(); // an empty value
        map[key] = this.inline(parent, true);
        this.flowSpace(parent);
      }
      const x = t.charCodeAt(this.pos);
      if (x === COMMA) {
        this.pos++;
        this.flowSpace(parent);
        if (t.charCodeAt(this.pos) === close) giveUp(); // a trailing comma
        continue;
      }
      if (x === close) { this.pos++; break; }
      giveUp();
    }
    this.depth--;
    return isSeq ? list : map;
  }
}
