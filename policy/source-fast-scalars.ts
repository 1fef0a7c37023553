/**
 * What characters and plain scalars mean to the fast YAML reader (source-fast.ts): the character
 * codes it branches on, YAML 1.2's indicators (section 5.3), and the core schema's resolution of
 * a plain scalar (section 10.3.2) as the yaml package resolves it. Anything the reader is unsure
 * of makes it give up (GIVE_UP), and the caller reads the text with the yaml package.
 */

/** Thrown inside the reader to give up; never escapes readFast. */
export const GIVE_UP: unique symbol = Symbol('give up');
export const giveUp = (): never => { throw GIVE_UP; };

export const LF = 10, SP = 32, HASH = 35, DQ = 34, SQ = 39, COMMA = 44, DASH = 45, DOT = 46, COLON = 58, LBRACK = 91, BSLASH = 92, RBRACK = 93, LBRACE = 123, RBRACE = 125;

/** Characters that cannot start a plain scalar here (YAML 1.2 c-indicator, `-` handled apart). */
export const isIndicator = (c: number): boolean =>
  c === COMMA || c === LBRACK || c === RBRACK || c === LBRACE || c === RBRACE || c === HASH || c === 38 /* & */ || c === 42 /* * */
  || c === 33 /* ! */ || c === 124 /* | */ || c === 62 /* > */ || c === SQ || c === DQ || c === 37 /* % */ || c === 64 /* @ */
  || c === 96 /* ` */ || c === 63 /* ? */ || c === COLON;
export const isFlowIndicator = (c: number): boolean => c === COMMA || c === LBRACK || c === RBRACK || c === LBRACE || c === RBRACE;

// YAML 1.2 core schema (section 10.3.2), with the yaml package's resolvers: parseInt per radix,
// parseFloat; the first test that matches wins, in the package's order.
const NULL = /^(?:~|[Nn]ull|NULL)$/;
const TRUE = /^(?:[Tt]rue|TRUE)$/;
const FALSE = /^(?:[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_SPECIAL = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/** A plain scalar's value (never empty here). */
export function resolvePlain(s: string): unknown {
  const c = s.charCodeAt(0);
  // Most scalars are ids: a letter that cannot begin null, true or false is a string.
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) {
    const l = c | 32;
    if (l !== 110 && l !== 116 && l !== 102) return s; // n t f
    if (NULL.test(s)) return null;
    if (TRUE.test(s)) return true;
    if (FALSE.test(s)) return false;
    return s;
  }
  if (s === '~') return null;
  if (INT_OCT.test(s)) return finite(parseInt(s.substring(2), 8));
  if (INT.test(s)) return finite(parseInt(s, 10));
  if (INT_HEX.test(s)) return finite(parseInt(s.substring(2), 16));
  if (FLOAT_SPECIAL.test(s)) return giveUp(); // refused by parseSource, with a position
  if (FLOAT_EXP.test(s) || FLOAT.test(s)) return finite(parseFloat(s));
  return s;
}

const finite = (n: number): number => (Number.isFinite(n) ? n : giveUp());

/** A mapping key as parseSource's keyText makes it. */
export function keyOf(v: unknown): string {
  return v === null ? '' : String(v);
}

/** The implicit-key length limit of YAML 1.2 (section 7.4.2): longer keys are the full reader's. */
export const MAX_KEY = 1000;
