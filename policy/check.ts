/**
 * Small field checkers shared by the policy validator and the request parser: they read plain
 * data (never trusting its shape), collect every problem as an Issue with a document path, and
 * return normalised values or undefined.
 */
import type { Issue } from './errors';
import type { SourcePath, SourcePosition } from './source';

/** A document path: keys and list indexes from the root. */
export type Path = readonly (string | number)[];
/** A path, or a function making it: hot loops pass a thunk so that valid input allocates no paths. */
export type PathLike = Path | (() => Path);

/** `conduits[3].to.assets[0]`; keys that are not plain words are quoted: `zones[0]["a b"]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (let seg of path) {
    if (typeof seg === 'number') { out += `[${seg}]`; continue; }
    seg = seg.length > 64 ? `${seg.slice(0, 64)}…` : seg;
    if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Edit distance (Levenshtein), capped for speed: returns cap+1 once it is exceeded. */
export function editDistance(a: string, b: string, cap = 3): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1);
    cur[0] = i;
    let rowMin = cur[0];
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (cur[j] < rowMin) rowMin = cur[j];
    }
    if (rowMin > cap) return cap + 1;
    prev = cur;
  }
  return prev[b.length];
}

/** The closest candidate within a small edit distance (case-insensitive), if any. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const cap = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  let best: string | undefined;
  let bestD = cap + 1;
  const prefixed: string[] = [];
  for (const c of candidates) {
    const lc = c.toLowerCase();
    const d = editDistance(w, lc, cap);
    if (d < bestD) { bestD = d; best = c; }
    if (w.length >= 3 && (lc.startsWith(w) || w.startsWith(lc))) prefixed.push(c);
  }
  // Else a word that is the start of exactly one candidate ("deny" → "deny-all").
  return best ?? (prefixed.length === 1 ? prefixed[0] : undefined);
}

/** ` (did you mean 'x'?)` or the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean '${c}'?)`;
}

/** A user-written word for a message, cut to 64 characters. */
export function q(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

/** A short description of a wrong value for messages ("a list", "the string \"x\"", "number 3"). */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** A mapping: any non-null, non-array object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own enumerable keys only, whatever the prototype (a `__proto__` key is an ordinary key). */
export function has(rec: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(rec, key);
}

/** An own property's value, else undefined (never one from the prototype chain). */
export function get(rec: Record<string, unknown>, key: string): unknown {
  return has(rec, key) ? rec[key] : undefined;
}

/**
 * Collects issues; positions come from an optional locator, falling back to the nearest located
 * parent. Keeps the first `max` (default 1000) and counts the rest (`dropped`), so that a hostile
 * document cannot make a gigantic report.
 */
export class IssueList {
  readonly issues: Issue[] = [];
  private total = 0;
  private readonly max: number;
  constructor(private readonly where: { file?: string; locate?: (path: SourcePath) => SourcePosition | undefined; max?: number } = {}) {
    this.max = where.max ?? 1000;
  }

  add(pathLike: PathLike, message: string): void {
    this.total++;
    if (this.issues.length >= this.max) return;
    const path = typeof pathLike === 'function' ? pathLike() : pathLike;
    const issue: Issue = { path: formatPath(path), message };
    if (this.where.file !== undefined) issue.file = this.where.file;
    const locate = this.where.locate;
    if (locate) {
      for (let n = path.length; n >= 0; n--) {
        const pos = locate(path.slice(0, n));
        if (pos) { issue.line = pos.line; issue.col = pos.col; break; }
      }
    }
    this.issues.push(issue);
  }

  /** Every issue added, listed or not. */
  get count(): number { return this.total; }

  /** Issues added beyond the listed maximum. */
  get dropped(): number { return this.total - this.issues.length; }
}

/**
 * Reads a mapping: reports "must be a mapping" or each unknown key (with a did-you-mean among
 * `known`), and returns it, or undefined when it is not a mapping.
 */
export function readObject(v: unknown, path: Path, known: readonly string[], out: IssueList, what = 'a mapping'): Record<string, unknown> | undefined {
  if (!isRecord(v)) {
    out.add(path, `must be ${what}, got ${describe(v)}`);
    return undefined;
  }
  // for-in over own keys: no key array per object (this runs for every entry of a large policy).
  for (const key in v) {
    if (!has(v, key)) continue;
    if (!known.includes(key)) out.add([...path, key], `unknown field '${q(key)}'${didYouMean(key, known)}`);
  }
  return v;
}

/** A required or optional string field (non-empty). */
export function readString(rec: Record<string, unknown>, key: string, path: Path, out: IssueList, opts: { required?: boolean } = {}): string | undefined {
  if (!has(rec, key) || rec[key] === undefined) {
    if (opts.required) out.add([...path, key], `required field '${q(key)}' is missing`);
    return undefined;
  }
  const v = rec[key];
  if (typeof v !== 'string') { out.add([...path, key], `must be a string, got ${describe(v)}`); return undefined; }
  if (v.trim() === '') { out.add([...path, key], 'must not be empty'); return undefined; }
  return v;
}

/** An optional boolean field; anything but true/false is an issue. */
export function readBoolean(rec: Record<string, unknown>, key: string, path: Path, out: IssueList): boolean | undefined {
  if (!has(rec, key) || rec[key] === undefined) return undefined;
  const v = rec[key];
  if (typeof v !== 'boolean') { out.add([...path, key], `must be true or false, got ${describe(v)}`); return undefined; }
  return v;
}

/** An integer in [min, max]; `name` describes it in the message ("a port"). */
export function checkInt(v: unknown, path: PathLike, out: IssueList, range: { min: number; max: number; name: string }): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    out.add(path, `must be ${range.name} (an integer ${range.min}..${range.max}), got ${describe(v)}`);
    return undefined;
  }
  if (v < range.min || v > range.max) {
    out.add(path, `${range.name} must be ${range.min}..${range.max}, got ${v}`);
    return undefined;
  }
  return v;
}

/** The items of a list field, with their paths made on demand. */
export interface ListOf { items: unknown[]; /** The path of item i (a single value's is the field's own). */ pathOf(i: number): Path }

/** A list field (or, with `single`, one scalar taken as a list of one); anything else is an issue. */
export function readList(v: unknown, path: Path, out: IssueList, opts: { single?: boolean } = {}): ListOf | undefined {
  if (Array.isArray(v)) return { items: v, pathOf: (i) => [...path, i] };
  if (opts.single && v !== undefined && v !== null && typeof v !== 'object') return { items: [v], pathOf: () => path };
  out.add(path, `must be a list, got ${describe(v)}`);
  return undefined;
}

/** A list of non-empty strings (ids, role names, interface names). */
export function readStringList(rec: Record<string, unknown>, key: string, path: Path, out: IssueList, opts: { required?: boolean; single?: boolean } = {}): string[] | undefined {
  if (!has(rec, key) || rec[key] === undefined) {
    if (opts.required) out.add([...path, key], `required field '${q(key)}' is missing`);
    return undefined;
  }
  const list = readList(rec[key], [...path, key], out, { single: opts.single });
  if (!list) return undefined;
  const res: string[] = [];
  let ok = true;
  list.items.forEach((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') {
      out.add(list.pathOf(i), `must be a non-empty string, got ${describe(item)}`);
      ok = false;
    } else res.push(item);
  });
  return ok ? res : undefined;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

/** Whether `v` is a valid id (see checkId), without reporting. */
export function isValidId(v: string): boolean {
  return ID_RE.test(v);
}

/** Ids appear in CLI arguments, MQTT topics and audit records: keep them to a safe alphabet. */
export function checkId(v: string, path: PathLike, out: IssueList): boolean {
  if (ID_RE.test(v)) return true;
  out.add(path, `'${q(v)}' is not a valid id: use letters, digits and - _ . : @ (starting with a letter or digit, at most 128)`);
  return false;
}

/** An optional `{ min, max }` of finite numbers with min <= max (value bounds); undefined with issues otherwise. */
export function readMinMax(rec: Record<string, unknown>, key: string, path: Path, out: IssueList): { min: number; max: number } | undefined {
  if (!has(rec, key) || rec[key] === undefined) return undefined;
  const vr = readObject(rec[key], [...path, key], ['min', 'max'], out, 'a mapping { min, max }');
  if (!vr) return undefined;
  const num = (k: string): number | undefined => {
    const x = get(vr, k);
    if (typeof x === 'number' && Number.isFinite(x)) return x;
    out.add([...path, key, k], `must be a number, got ${describe(x)}`);
    return undefined;
  };
  const min = num('min'), max = num('max');
  if (min === undefined || max === undefined) return undefined;
  if (min > max) { out.add([...path, key], `min ${min} is above max ${max}`); return undefined; }
  return { min, max };
}
