/**
 * What may appear inside the ruleset text. nft has no escape sequences in quoted strings, so
 * every word that comes from a policy or a config is checked against a narrow alphabet before it
 * is written: nothing a policy says can close a quote, start a new statement or add a rule.
 */

/** Linux IFNAMSIZ is 16 with the NUL: at most 15 bytes; no '*' (an nft wildcard) or quotes. */
const IFNAME = /^[A-Za-z0-9_.@+-]{1,15}$/;
/** Ids that go into comments (conduit, asset, zone ids). */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.:@+\/-]{0,63}$/;
/** nft identifiers that we choose (table names). */
const TABLE = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/** Why an interface name cannot go into the ruleset, or undefined when it can. */
export function ifnameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'an interface name must be a string';
  if (name === '.' || name === '..' || !IFNAME.test(name)) {
    return `interface name ${JSON.stringify(name)} is not a Linux interface name (1-15 of A-Z a-z 0-9 _ . @ + -)`;
  }
  return undefined;
}

/** Why an id cannot be named in a rule comment, or undefined when it can. */
export function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || !ID.test(id)) {
    return `id ${JSON.stringify(id)} cannot be named in nftables (1-64 of A-Z a-z 0-9 _ . : @ + / -, starting with a letter or digit)`;
  }
  return undefined;
}

/** Why a table name is unusable, or undefined. */
export function tableProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || !TABLE.test(name)) return `table name ${JSON.stringify(name)} must match ${TABLE.source}`;
  return undefined;
}

/** A port 1..65535. */
export function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * An nft set name made from an id: letters, digits and '_' only, unique within `taken`
 * (a numeric suffix on collision), at most 48 characters.
 */
export function setName(prefix: string, id: string, taken: Set<string>): string {
  const base = `${prefix}_${id.replace(/[^A-Za-z0-9_]/g, '_')}`.slice(0, 44);
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/** nft comments hold at most 128 bytes: words that do not fit are replaced by ` +N` (N left out). */
export function fitComment(words: readonly string[], max = 128): string {
  let out = '';
  for (let i = 0; i < words.length; i++) {
    const next = out === '' ? words[i] : `${out} ${words[i]}`;
    const reserve = i < words.length - 1 ? 7 : 0;
    if (next.length + reserve > max) return `${out} +${words.length - i}`;
    out = next;
  }
  return out;
}
