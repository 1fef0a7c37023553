/**
 * The `iec104:` block of an iec104 listener: the APCI parameters the gateway keeps on both sides
 * of each proxied link (IEC 60870-5-104:2006 section 5.5 and 9.6, "Definition of time outs" and
 * "Maximum number of outstanding I format APDUs k" / "Latest acknowledge after receiving w"):
 *   iec104: { k?, w?, t1Ms?, t2Ms?, t3Ms? }
 * Ranges as the standard gives them: k and w 1..32767 with w <= k (it recommends w at most two
 * thirds of k), t1 and t2 1..255 s with t2 < t1, t3 1 s..48 h; written in milliseconds like the
 * other durations of the config. Unwritten ones keep the standard defaults (k 12, w 8, t1 15 s,
 * t2 10 s, t3 20 s), and the cross-checks count those defaults.
 */
import { IssueList, checkInt, get, has, readObject, type Path } from '../../policy/check';
import { IEC104_LINK_DEFAULTS, type Iec104Link } from '../../drivers/iec104/window';

const LIMITS: Readonly<Record<keyof Iec104Link, { min: number; max: number; name: string }>> = Object.freeze({
  k: { min: 1, max: 32767, name: 'a count of I-format APDUs' },
  w: { min: 1, max: 32767, name: 'a count of I-format APDUs' },
  t1Ms: { min: 1_000, max: 255_000, name: 'a duration in milliseconds' },
  t2Ms: { min: 1_000, max: 255_000, name: 'a duration in milliseconds' },
  t3Ms: { min: 1_000, max: 172_800_000, name: 'a duration in milliseconds' },
});
const KEYS = Object.keys(LIMITS) as (keyof Iec104Link)[];

/** The link an iec104 listener keeps: its `iec104` block, or the standard's defaults; undefined for other services. */
export function iec104LinkOf(l: { service: string; iec104?: Iec104Link }): Iec104Link | undefined {
  return l.service === 'iec104' ? { ...IEC104_LINK_DEFAULTS, ...l.iec104 } : undefined;
}

/** `k 12, w 8, t1 15 s, t2 10 s, t3 20 s` for status lines and reports. */
export function formatIec104Link(l: Iec104Link): string {
  const s = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`;
  return `k ${l.k}, w ${l.w}, t1 ${s(l.t1Ms)}, t2 ${s(l.t2Ms)}, t3 ${s(l.t3Ms)}`;
}

/** Validates `iec104` at `path` (the listener's path + 'iec104'); the settings with defaults filled in, undefined when it has problems (reported to `out`). */
export function readIec104Link(v: unknown, path: Path, out: IssueList): Iec104Link | undefined {
  const rec = readObject(v, path, KEYS, out, 'a mapping { k, w, t1Ms, t2Ms, t3Ms }');
  if (!rec) return undefined;
  const before = out.count;
  const link: Iec104Link = { ...IEC104_LINK_DEFAULTS };
  for (const key of KEYS) {
    if (!has(rec, key)) continue;
    const n = checkInt(get(rec, key), [...path, key], out, LIMITS[key]);
    if (n !== undefined) link[key] = n;
  }
  if (out.count > before) return undefined;
  // A cross-check is located at the setting written (the second one when both are).
  const shown = (key: keyof Iec104Link): string => `${key} ${link[key]}${has(rec, key) ? '' : ' (the default)'}`;
  const at = (a: keyof Iec104Link, b: keyof Iec104Link): Path => [...path, has(rec, b) ? b : a];
  if (link.w > link.k) out.add(at('k', 'w'), `${shown('w')} must not exceed ${shown('k')}: the receiver acknowledges after at most w I-format APDUs, within the sender's k (IEC 60870-5-104 5.5)`);
  if (link.t2Ms >= link.t1Ms) out.add(at('t1Ms', 't2Ms'), `${shown('t2Ms')} must be below ${shown('t1Ms')}: acknowledgements (t2) must come before the sender gives up (t1) (IEC 60870-5-104 5.5)`);
  return out.count > before ? undefined : link;
}
