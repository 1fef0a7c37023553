/**
 * Users, edge sessions, grants, consoles and the login page (runtime/access/attach-access.ts).
 * Always attached (grants and edge sessions work whenever the policy needs them); the login page,
 * serial line and socket start only when the config's `console:` block names them. Session,
 * grant, quarantine and break-glass changes go out on the bus as `session-changed`.
 */
import { ZonegateError } from '../../policy/errors';
import { describeDecision, explain as explainRequest } from '../../policy/explain';
import { parseRequest } from '../../policy/request';
import { attachAccess } from '../access/attach-access';
import type { GatewayConfig } from '../config';
import type { GatewayStatus } from '../gateway-status';
import type { Core } from './core';
import type { EffectivePolicy } from './effective-policy';

/** The console's `policy show`: the effective policy and its conduits, one line each. */
function policyShow(effective: EffectivePolicy): string[] {
  const e = effective.current;
  const head = `policy ${e.version ?? 'none'} (${e.kind ?? 'no source'}, ${e.enforcement})`;
  if (!e.doc) return [head];
  return [head, ...e.doc.conduits.map((c) => `  ${c.id}: ${c.protocol}${c.requires?.edgeAuth ? ', edge login' : ''}${c.requires?.grant ? ', grant' : ''}${c.schedule ? ', scheduled' : ''}${c.mode === 'monitor' ? ' [monitor]' : ''}`)];
}

/** The console's `explain`: how the effective policy decides one request. */
function explain(effective: EffectivePolicy, raw: unknown, now: number): string[] {
  const { request, issues } = parseRequest(raw, 'request');
  if (!request) throw new ZonegateError('ERR_REQUEST_INVALID', `the request has ${issues.length} problem${issues.length === 1 ? '' : 's'}`, { issues });
  const e = effective.current;
  if (!e.index) return ['no policy is enforcing: every request is denied (no-policy)'];
  const ex = explainRequest(e.index, request, now);
  return [
    `source ${ex.source.ip ?? '-'}${ex.source.identity ? ` = ${ex.source.identity}` : ''}, zone ${ex.source.zone ?? '(none)'}; destination ${ex.destination.asset ?? '(no asset)'} ${ex.destination.protocol} port ${ex.destination.port ?? '?'}`,
    ...ex.conduits.map((c) => `  ${c.conduit}: ${c.result === 'allow' ? 'passes' : c.result === 'fail' ? `fails: ${c.reason}` : `not a candidate (${c.why})`}`),
    `=> ${describeDecision(ex.decision)} (policy ${e.version ?? 'none'})`,
  ];
}

/** Attaches and starts access (sets core.access). */
export async function openAccess(core: Core, cfg: GatewayConfig, o: { effective: EffectivePolicy; status: () => GatewayStatus; writeStatus: () => void }): Promise<void> {
  const s = core.store;
  const access = await attachAccess({
    config: { device: cfg.device, site: cfg.site, stateDir: cfg.stateDir, console: cfg.parts.console },
    now: core.now, log: core.log, decider: core.decider,
    audit: core.audit.sink,
    recentAudit: (n) => core.audit.ring.recent(n),
    status: o.status,
    trustRoot: s ? () => s.trustRoot() : undefined,
    importBundle: s ? async (b) => { const r = await s.accept(b, { source: 'import' }); return `policy ${r.active.policyVersion} ${r.outcome}`; } : undefined,
    policyDenyAll: () => s?.status().state === 'expired-deny-all',
    policyShow: () => policyShow(o.effective),
    explain: (raw) => explain(o.effective, raw, core.now()),
    onSessionChange: (c) => {
      if (c.kind === 'break-glass') {
        if (c.state) core.alarms.raise('break-glass', 'critical', `break-glass by ${c.state.user} until ${new Date(c.state.endsAt).toISOString()}: ${c.state.reason}`);
        else core.alarms.clear('break-glass');
        o.writeStatus();
      }
      void core.bus.emit('session-changed', c);
    },
  });
  core.access = access;
  await access.start(core.lifetime.signal);
}
