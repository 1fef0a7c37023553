/**
 * What the protocol parts of the semantic diff share (diff-dnp3.ts, diff-iec104.ts): a list
 * field compared as a set (undefined meaning any), and a { min, max } value bound that widens,
 * narrows or changes.
 */
export type Effect = 'widens' | 'narrows' | 'changes';
export type Add = (what: string, effect: Effect, detail: string, affects: string) => void;

export const minus = <T>(a: readonly T[], b: readonly T[]): T[] => { const s = new Set(b); return a.filter((x) => !s.has(x)); };
export const list = (xs: readonly (string | number)[]): string => xs.join(', ');

/** A list field as a set; undefined is "any". */
export function sets(add: Add, what: string, o: readonly string[] | undefined, n: readonly string[] | undefined, scope: string, noun: string): void {
  if (o === undefined && n === undefined) return;
  if (o === undefined) { add(what, 'narrows', `any → ${list(n as string[])}`, `${scope}: ${noun} other than ${list(n as string[])} no longer allowed`); return; }
  if (n === undefined) { add(what, 'widens', `${list(o)} → any`, `${scope}: any ${noun} now allowed`); return; }
  const a = minus(n, o), r = minus(o, n);
  if (a.length) add(what, 'widens', `+ ${list(a)}`, `${scope}: ${noun} ${list(a)} now allowed`);
  if (r.length) add(what, 'narrows', `- ${list(r)}`, `${scope}: ${noun} ${list(r)} no longer allowed`);
}

/** A value bound { min, max } (undefined: any value). */
export function bounds(add: Add, what: string, vo: { min: number; max: number } | undefined, vn: { min: number; max: number } | undefined, scope: string, noun: string): void {
  if ((vo?.min ?? -Infinity) === (vn?.min ?? -Infinity) && (vo?.max ?? Infinity) === (vn?.max ?? Infinity)) return;
  const lo = (vn?.min ?? -Infinity) < (vo?.min ?? -Infinity), hi = (vn?.max ?? Infinity) > (vo?.max ?? Infinity);
  const tighter = (vn?.min ?? -Infinity) > (vo?.min ?? -Infinity) || (vn?.max ?? Infinity) < (vo?.max ?? Infinity);
  const effect: Effect = (lo || hi) && tighter ? 'changes' : lo || hi ? 'widens' : 'narrows';
  const text = (v: { min: number; max: number } | undefined): string => (v ? `${v.min}..${v.max}` : 'any');
  add(what, effect, `${text(vo)} → ${text(vn)}`, `${scope}: ${noun} ${effect === 'widens' ? 'outside the old bounds now allowed' : effect === 'narrows' ? 'outside the new bounds no longer allowed' : 'inside one bound and not the other'}`);
}
