/**
 * The IEC 104 part of the semantic diff (diff.ts): two iec104 conduits' `allow` compared field
 * by field, with what a field left out means (iec104.ts Iec104Allow: no allow block = every
 * well-formed control-direction ASDU; no commonAddresses/ioas = any; no causes = the causes each
 * type takes; no values = any set-point value; selectBeforeExecute false = direct execute).
 */
import type { Iec104Allow } from './iec104';
import { IEC104_CAUSES } from './iec104';
import { typeClass } from './iec104-classes';
import { typeName } from './iec104-types';
import { formatRanges, subtractRanges } from './ranges';
import { bounds, sets, type Add } from './diff-sets';

const CONTROL_TYPES: number[] = [];
for (let t = 0; t < 256; t++) { const c = typeClass(t); if (c !== undefined && c !== 'monitor') CONTROL_TYPES.push(t); }
const ALL_IOAS = [{ start: 0, end: 0xffffff }];
const CAUSE_NAMES = new Map(Object.entries(IEC104_CAUSES).map(([k, v]) => [v, k]));
const causeName = (c: number): string => CAUSE_NAMES.get(c) ?? String(c);

/** Adds the changes between two iec104 conduits' allow blocks. */
export function diffIec104Allow(o: Iec104Allow | undefined, n: Iec104Allow | undefined, add: Add, scope: string): void {
  sets(add, 'types', (o?.types ?? CONTROL_TYPES).map(typeName), (n?.types ?? CONTROL_TYPES).map(typeName), scope, 'types');
  sets(add, 'commonAddresses', o?.commonAddresses?.map(String), n?.commonAddresses?.map(String), scope, 'common addresses');
  const io = o?.ioas ?? ALL_IOAS, inn = n?.ioas ?? ALL_IOAS;
  const ia = subtractRanges(inn, io), ir = subtractRanges(io, inn);
  if (ia.length) add('ioas', 'widens', `+ ${formatRanges(ia)}`, `${scope}: IOAs ${formatRanges(ia)} now allowed`);
  if (ir.length) add('ioas', 'narrows', `- ${formatRanges(ir)}`, `${scope}: IOAs ${formatRanges(ir)} no longer allowed`);
  const co = o?.causes?.map(causeName), cn = n?.causes?.map(causeName);
  if (co === undefined && cn !== undefined) add('causes', 'changes', `each type's causes → ${cn.join(', ')}`, `${scope}: causes ${cn.join(', ')} only`);
  else if (co !== undefined && cn === undefined) add('causes', 'changes', `${co.join(', ')} → each type's causes`, `${scope}: the causes each type takes`);
  else sets(add, 'causes', co, cn, scope, 'causes');
  bounds(add, 'values', o?.values, n?.values, scope, 'set-point values');
  const so = o?.selectBeforeExecute === true, sn = n?.selectBeforeExecute === true;
  if (so !== sn) add('selectBeforeExecute', sn ? 'narrows' : 'widens', `${so} → ${sn}`, `${scope}: executes ${sn ? 'without a select no longer allowed' : 'now allowed without a select'}`);
}

/** `iec104 C_IC_NA_1, C_SC_NA_1 CA 1 IOA 1000-1007 select before execute` for summaries. */
export function iec104Summary(a: Iec104Allow | undefined): string {
  if (a === undefined) return 'any ASDU';
  const parts = [a.types.map(typeName).join(', ')];
  if (a.commonAddresses) parts.push(`CA ${a.commonAddresses.join(', ')}`);
  if (a.ioas) parts.push(`IOA ${formatRanges(a.ioas)}`);
  if (a.causes) parts.push(`causes ${a.causes.map(causeName).join(', ')}`);
  if (a.values) parts.push(`values ${a.values.min}..${a.values.max}`);
  if (a.selectBeforeExecute) parts.push('select before execute');
  return parts.join(' ');
}
