/**
 * The `key=value` line format of the update marker files (update.trial, update.result). It is
 * this plain so that build/boot-check.sh, which rolls back with nothing but POSIX sh, reads and
 * writes the same files as the TypeScript side. Values are one line; keys are [A-Za-z][A-Za-z0-9]*.
 */

/** Parses `key=value` lines into a null-prototype record; unknown lines are ignored. */
export function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (m && !(m[1] in out)) out[m[1]] = m[2];
  }
  return out;
}

/** Serialises a record as `key=value` lines; newlines in values become spaces. */
export function formatKv(values: Record<string, string | number | undefined>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(k)) throw new TypeError(`invalid marker key ${JSON.stringify(k)}`);
    lines.push(`${k}=${String(v).replace(/[\r\n]+/g, ' ')}`);
  }
  return `${lines.join('\n')}\n`;
}
