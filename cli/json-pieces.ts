/**
 * Prints a large JSON value exactly as `JSON.stringify(value, null, 2)` would, in pieces of about
 * 16 KiB cut at line ends, so that a summary carrying tens of thousands of entries (the diff of a
 * learnt policy: 26,000 changes, 11 MB of text) is never one string in memory. Containers down to
 * `depth` are written an entry at a time; anything deeper is stringified whole (one entry).
 */

// 16 KiB: a piece of 64 Ki characters, two bytes each once one is not Latin-1 (a diff's arrows),
// went to V8's large-object space, garbage only a full collection frees (26 MiB of them for the
// diff of a 10,000-conduit learn).
const PIECE = 16 * 1024;

/** Writes `value` through `out` (which ends each call with a line end, as CommandContext.out does). */
export function printJsonPieces(value: unknown, out: (text: string) => void, depth = 3): void {
  // Lines are gathered in an array and joined (one flat string per piece, not a rope of lines).
  let lines: string[] = [];
  let size = 0;
  const line = (text: string): void => {
    lines.push(text);
    size += text.length + 1;
    if (size >= PIECE) { out(lines.join('\n')); lines = []; size = 0; }
  };
  write(value, '', '', '', depth, line);
  if (lines.length > 0) out(lines.join('\n'));
}

/**
 * A list printJsonPieces writes an entry at a time as `items` gives them, none held (read once):
 * the changes of a large diff, made as they are printed. JSON.stringify reads it whole (toJSON).
 */
export class JsonStream {
  constructor(readonly items: Iterable<unknown>) {}
  toJSON(): unknown[] { return [...this.items]; }
}

/** True when JSON leaves the value out of an object (null in an array), without stringifying a container. */
const omitted = (x: unknown): boolean => !(x instanceof JsonStream) && (x === undefined || typeof x === 'function' || typeof x === 'symbol'
  || (x !== null && typeof x === 'object' && typeof (x as { toJSON?: unknown }).toJSON === 'function' && JSON.stringify(x) === undefined));

const plainContainer = (v: unknown): v is Record<string, unknown> | unknown[] =>
  v !== null && typeof v === 'object' && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';

/** One value: its first line after `prefix`, its last line before `suffix`, its inner lines at `indent`. */
function write(v: unknown, indent: string, prefix: string, suffix: string, depth: number, line: (text: string) => void): void {
  if (v instanceof JsonStream && depth > 0) { writeStream(v, indent, prefix, suffix, depth, line); return; }
  const entries = plainContainer(v) && depth > 0
    ? (Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v).filter(([, x]) => !omitted(x)))
    : undefined;
  if (entries === undefined || entries.length === 0) {
    line(`${prefix}${(JSON.stringify(v, null, 2) ?? 'null').replace(/\n/g, `\n${indent}`)}${suffix}`);
    return;
  }
  const isArray = Array.isArray(v);
  line(`${prefix}${isArray ? '[' : '{'}`);
  const inner = `${indent}  `;
  entries.forEach(([k, x], i) => {
    const key = isArray ? '' : `${JSON.stringify(k)}: `;
    write(isArray && omitted(x) ? null : x, inner, `${inner}${key}`, i < entries.length - 1 ? ',' : '', depth - 1, line);
  });
  line(`${indent}${isArray ? ']' : '}'}${suffix}`);
}

/** A JsonStream as write() writes an array: each entry written before the next is made. */
function writeStream(v: JsonStream, indent: string, prefix: string, suffix: string, depth: number, line: (text: string) => void): void {
  const it = v.items[Symbol.iterator]();
  let next = it.next();
  if (next.done === true) { line(`${prefix}[]${suffix}`); return; }
  line(`${prefix}[`);
  const inner = `${indent}  `;
  while (next.done !== true) {
    const x = next.value;
    next = it.next();
    write(omitted(x) ? null : x, inner, inner, next.done === true ? '' : ',', depth - 1, line);
  }
  line(`${indent}]${suffix}`);
}
