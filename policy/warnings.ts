/**
 * Warnings about a valid policy: things it may mean, but that an auditor would question. Today:
 * a Modbus conduit whose `from` names a whole zone and that allows writes or state-changing
 * diagnostics (or everything, `allow: all`): every device in that zone, present and future, may
 * then write setpoints or silence a device (FC 08/04). `policy check` prints them; they never
 * make a policy invalid.
 */
import type { Issue } from './errors';
import type { Conduit, PolicyDocument } from './types';
import { modbusFunction, modbusFunctionName, modbusSubFunctionName } from './modbus';
import { IssueList } from './check';
import type { SourcePath, SourcePosition } from './source';

/** What a Modbus conduit's allow lets through that is more than reading, by name. */
export function riskyOperations(c: Conduit): string[] {
  if (c.protocol !== 'modbus') return [];
  if (c.allow === undefined) return ['every operation (allow: all)'];
  const out: string[] = [];
  for (const fn of c.allow.functions) {
    const f = modbusFunction(fn);
    if (!f || f.access === 'read') continue;
    // A whole function with sub-functions is risky when any of its sub-functions is.
    if (f.subFunctions && f.access === 'diagnostic' && f.subFunctions.every((x) => x.access === 'read')) continue;
    out.push(modbusFunctionName(fn));
  }
  for (const { fn, sub } of c.allow.subFunctions ?? []) {
    const x = modbusFunction(fn)?.subFunctions?.find((y) => y.code === sub);
    if (x && x.access !== 'read') out.push(modbusSubFunctionName(fn, sub));
  }
  return out;
}

/** The warnings of a validated document, located like validation issues when `locate` is given. */
export function policyWarnings(doc: PolicyDocument, where: { file?: string; locate?: (path: SourcePath) => SourcePosition | undefined } = {}): Issue[] {
  const out = new IssueList(where);
  doc.conduits.forEach((c, i) => {
    if (c.from.zones.length === 0) return;
    const risky = riskyOperations(c);
    if (risky.length === 0) return;
    const zones = c.from.zones.map((z) => `'${z}'`).join(', ');
    out.add(['conduits', i, 'from', 'zones'],
      `warning: conduit '${c.id}' allows ${risky.join(', ')} to everyone in zone ${zones}; name identities or roles for writes and diagnostics`);
  });
  return out.issues;
}
