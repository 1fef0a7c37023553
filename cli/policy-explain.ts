/**
 * `zonegate policy explain FILE --request JSON [--json]`: decides one request against a policy and
 * says why: the decision, the conduit or reason, the identity, how source and destination
 * resolved, and every conduit to that destination with the check it failed. Exit 0 for a decision
 * either way, 1 for a bad request (each problem with the path of the field) or policy, 2 usage.
 */
import type { Command } from './framework';
import { usageError } from './framework';
import { ZonegateError } from '../policy/errors';
import { compile } from '../policy/compile';
import { explain } from '../policy/explain';
import type { Explanation } from '../policy/explain';
import { parseRequest } from '../policy/request';
import { didYouMean } from '../policy/check';
import { loadPolicyFile } from '../runtime/policy-file';
import { describeDecision } from '../policy/explain';

export const policyExplainCommand: Command = {
  path: ['policy', 'explain'],
  summary: 'decide one request against a policy and explain the decision',
  usage: "policy explain FILE --request JSON [--json]",
  description: `
JSON is a request as in a policy's tests, e.g.
  '{"from":"hmi-1","to":"plc-feeder-1","modbus":{"function":"read-coils","unit":1,"address":0,"count":8}}'
  '{"from":"scada-1","to":"rtu-7","dnp3":{"function":"direct-operate","objects":[{"group":12,"variation":1,"indices":[3],"control":"trip"}]}}'
from: an identity id or {"ip": ...}; to: an asset id or {"ip": ..., "port": ...}; optional protocol,
port, at (ISO 8601 or epoch ms; default now) and session {edgeAuth, identity, grant}.`,
  options: { request: { type: 'string', value: 'JSON', description: 'the request to decide (required)' } },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const file = ctx.positionals[0];
    const text = ctx.options.request;
    if (typeof text !== 'string') throw usageError('--request JSON is required');
    let raw: unknown;
    try { raw = JSON.parse(text); } catch (e) {
      throw new ZonegateError('ERR_REQUEST_INVALID', `--request is not valid JSON: ${(e as Error).message}`, { issues: [{ path: 'request', message: 'not valid JSON' }] });
    }
    const { request, issues } = parseRequest(raw, 'request');
    if (!request) throw new ZonegateError('ERR_REQUEST_INVALID', `the request has ${issues.length} problem${issues.length === 1 ? '' : 's'}`, { issues });
    const { doc } = await loadPolicyFile(file);
    // Names are checked as a policy's embedded tests check them: a typo is an error, not a deny.
    const named: Array<{ path: string; message: string }> = [];
    if (typeof request.from === 'string' && !doc.identities.some((i) => i.id === request.from)) {
      const asAsset = doc.assets.some((a) => a.id === request.from);
      named.push({ path: 'request.from', message: `unknown identity '${request.from}'${asAsset ? ` ('${request.from}' is an asset: write "from": {"ip": ...} for a request from its address)` : didYouMean(request.from, doc.identities.map((i) => i.id))}` });
    }
    if (typeof request.to === 'string' && !doc.assets.some((a) => a.id === request.to)) {
      named.push({ path: 'request.to', message: `unknown asset '${request.to}'${didYouMean(request.to, doc.assets.map((a) => a.id))}` });
    }
    if (named.length) throw new ZonegateError('ERR_REQUEST_INVALID', `the request names ${named.length === 1 ? 'an id' : 'ids'} that ${file} does not define`, { issues: named });
    const ex = explain(compile(doc), request, Date.now());
    if (ctx.json) {
      ctx.printJson({ ok: true, file, request, ...ex, at: new Date(ex.at).toISOString() });
      return 0;
    }
    const d = ex.decision;
    const lines = [
      `decision:    ${d.decision}${d.monitor ? ' (monitor mode)' : ''}`,
      d.conduit ? `conduit:     ${d.conduit}` : '',
      d.reason ? `reason:      ${d.reason}${d.monitor ? ' (what enforce mode would have said)' : ''}` : '',
      `identity:    ${d.identity ?? '(none)'}`,
      ...sourceLines(ex.source),
      `destination: ${ex.destination.asset ?? '(no asset)'}, zone ${ex.destination.zone ?? '(none)'}, ${ex.destination.protocol} port ${ex.destination.port ?? '(unknown)'}`,
      `at:          ${new Date(ex.at).toISOString()}`,
    ].filter((l) => l !== '');
    if (ex.conduits.length === 0) lines.push(`conduits:    none of protocol ${ex.destination.protocol} lead to this destination`);
    else {
      lines.push('conduits to this destination:');
      const w = Math.max(...ex.conduits.map((c) => c.conduit.length));
      for (const c of ex.conduits) {
        const what = c.result === 'allow' ? 'passes every check'
          : c.result === 'fail' ? `fails: ${c.reason}`
            : c.why === 'from' ? 'not a candidate: `from` does not match this source' : 'not a candidate: port not allowed';
        const via = ex.source.person && c.via ? ` (via the ${c.via})` : '';
        lines.push(`  ${c.conduit.padEnd(w)}  ${what}${via}${c.mode === 'monitor' ? ' [monitor]' : ''}`);
      }
    }
    lines.push(`=> ${describeDecision(d)}`);
    ctx.out(lines.join('\n'));
    return 0;
  },
};

/**
 * The source as the text output shows it: one line for a device (or an unknown address); two
 * when a person logged in at the edge from a device's address, since conduits may match either.
 */
function sourceLines(src: Explanation['source']): string[] {
  const ip = src.ip ?? '-';
  if (!src.person) return [`source:      ${ip}${src.identity ? ` = ${src.identity}` : ''}, zone ${src.zone ?? '(none)'}`];
  const device = src.device.identity ? `device ${src.device.identity}, zone ${src.device.zone ?? '(none)'}` : `no device, zone ${src.device.zone ?? '(none)'}`;
  return [
    `source:      ${ip} = ${device}`,
    `             + person ${src.person.identity} (from the session), zone ${src.person.zone ?? '(none)'}`,
  ];
}
