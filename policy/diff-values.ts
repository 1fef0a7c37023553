/**
 * The issue-14 part of a Modbus conduit's semantic diff (diff.ts): write bounds (allow.values),
 * coil states (allow.coils), sub-functions and writeRateLimit. A register range without a rule
 * takes any value, so a rule removed widens and a rule added narrows; a rule whose bounds moved
 * widens, narrows or changes as its interval grew, shrank or both.
 */
import type { CoilRule, Conduit, ValueRule } from './types';
import { modbusSubFunctionName } from './modbus';
import { formatRange } from './ranges';

type Effect = 'widens' | 'narrows' | 'changes';
type Add = (what: string, effect: Effect, detail: string, affects: string) => void;

const rule = (r: ValueRule): string => `${r.type}${r.type.endsWith('32') ? ` ${r.order}` : ''} ${r.min}..${r.max}`;
const coil = (r: CoilRule): string => (r.on && r.off ? 'on, off' : r.on ? 'on' : 'off');

export function diffModbusRestrictions(o: Conduit, n: Conduit, add: Add, scope: string): void {
  const vo = new Map((o.allow?.values ?? []).map((r) => [formatRange(r), r]));
  const vn = new Map((n.allow?.values ?? []).map((r) => [formatRange(r), r]));
  for (const [k, r] of vn) {
    const was = vo.get(k);
    if (!was) { add('values', 'narrows', `+ ${k}: ${rule(r)}`, `${scope}: writes to ${k} outside ${rule(r)} no longer allowed`); continue; }
    if (rule(was) === rule(r)) continue;
    const grew = r.min < was.min || r.max > was.max, shrank = r.min > was.min || r.max < was.max;
    const effect: Effect = r.type !== was.type || r.order !== was.order || (grew && shrank) ? 'changes' : grew ? 'widens' : 'narrows';
    add('values', effect, `${k}: ${rule(was)} → ${rule(r)}`, `${scope}: writes to ${k} ${effect === 'widens' ? 'outside the old bounds now allowed' : effect === 'narrows' ? 'outside the new bounds no longer allowed' : 'inside one bound and not the other'}`);
  }
  for (const [k, r] of vo) if (!vn.has(k)) add('values', 'widens', `- ${k}: ${rule(r)}`, `${scope}: writes to ${k} of any value now allowed`);
  const co = new Map((o.allow?.coils ?? []).map((r) => [formatRange(r), r]));
  const cn = new Map((n.allow?.coils ?? []).map((r) => [formatRange(r), r]));
  for (const [k, r] of cn) {
    const was = co.get(k);
    if (was && coil(was) === coil(r)) continue;
    const grew = was !== undefined && ((r.on && !was.on) || (r.off && !was.off));
    const effect: Effect = !was ? 'narrows' : grew && ((!r.on && was.on) || (!r.off && was.off)) ? 'changes' : grew ? 'widens' : 'narrows';
    add('coils', effect, `${k}: ${was ? coil(was) : 'on, off'} → ${coil(r)}`, `${scope}: coil writes to ${k} setting ${effect === 'widens' ? `${coil(r)} now allowed` : `only ${coil(r)}`}`);
  }
  for (const [k, r] of co) if (!cn.has(k)) add('coils', 'widens', `- ${k}: ${coil(r)}`, `${scope}: coil writes to ${k} setting on or off now allowed`);
  const so = (o.allow?.subFunctions ?? []).map((x) => modbusSubFunctionName(x.fn, x.sub)), sn = (n.allow?.subFunctions ?? []).map((x) => modbusSubFunctionName(x.fn, x.sub));
  const sa = sn.filter((x) => !so.includes(x)), sr = so.filter((x) => !sn.includes(x));
  if (sa.length) add('functions', 'widens', `+ ${sa.join(', ')}`, `${scope}: ${sa.join(', ')} now allowed`);
  if (sr.length) add('functions', 'narrows', `- ${sr.join(', ')}`, `${scope}: ${sr.join(', ')} no longer allowed`);
  const wl = (c: Conduit): string => (c.writeRateLimit ? `${c.writeRateLimit.perSecond}/s burst ${c.writeRateLimit.burst}` : 'none');
  if (wl(o) !== wl(n)) add('writeRateLimit', 'changes', `${wl(o)} → ${wl(n)}`, `${scope}: writes above the rate are denied (rate-limited)`);
}
