/**
 * The nftables part: renders the active policy with the proxies (drivers/nftables/render.ts) and
 * applies it atomically; ERR_NFT is an alarm, the proxies keep enforcing. Inside a reload every
 * step that would apply only asks for it (hold), and the reload applies once. The counters are
 * read back every nftCountersMs for `zonegate status`.
 */
import { join } from 'node:path';
import { renderRuleset } from '../../drivers/nftables/render';
import { applyRuleset } from '../../drivers/nftables/apply';
import { readCounters } from '../../drivers/nftables/counters';
import { missingInterfaces } from '../../drivers/nftables/interfaces';
import type { ProxyListener } from '../../drivers/nftables/options';
import { withLoginPage } from '../nft-facts';
import type { NftablesStatus } from '../gateway-status';
import type { Listeners } from '../listeners/running';
import { describeError, taskQueue, type Core } from './core';
import type { EffectivePolicy } from './effective-policy';

export interface NftPart {
  schedule(): void;
  /** Runs `fn` with applies held; one apply afterwards when anything asked (and `fn`'s result says ok). */
  hold<T extends { ok: boolean }>(fn: () => Promise<T>): Promise<T>;
  status(): NftablesStatus | null;
  idle(): Promise<void>;
  start(signal: AbortSignal): void;
  stop(): void;
}

const EMPTY: NftablesStatus = { enabled: true, appliedSha256: null, appliedAt: null, keptAt: null, skipped: [], lastError: null };

export function createNftPart(core: Core, listeners: Listeners, effective: EffectivePolicy): NftPart {
  const queue = taskQueue((e) => core.logError('nftables', e));
  let nft: NftablesStatus | null = null;
  let hold = 0, wanted = false;
  let timer: NodeJS.Timeout | undefined;
  const cmd = () => core.options.nftCommand ?? {};

  function proxies(): ProxyListener[] {
    return [...listeners.running.values()].filter((l) => l.network).map((l) => ({
      asset: l.spec.asset, port: l.spec.servicePort, protocol: listeners.registry.get(l.spec.service).protocol,
      listen: { host: l.spec.listen.host, port: Number(l.status.address?.split(':').pop() ?? l.spec.listen.port) },
    }));
  }

  /** Warns (once per change) about zones without interfaces; alarms when a named interface is missing. */
  async function checkInterfaces(rendered: { warnings: string[]; interfaces: string[] }): Promise<void> {
    const before = JSON.stringify(nft?.warnings ?? []);
    if (nft) nft.warnings = rendered.warnings;
    if (JSON.stringify(rendered.warnings) !== before) for (const w of rendered.warnings) core.log.warn(`nftables: ${w}`);
    const missing = await missingInterfaces(rendered.interfaces, cmd());
    if (nft) nft.missingInterfaces = missing;
    if (missing.length) {
      core.alarms.raise('nftables-interfaces', 'warning', `nftables: interface(s) ${missing.join(', ')} named by the policy or config do not exist on this device; traffic there stays denied`);
      core.log.warn(`nftables: interface(s) ${missing.join(', ')} do not exist on this device`);
    } else core.alarms.clear('nftables-interfaces');
  }

  async function applyNow(): Promise<void> {
    const cfg = core.config!;
    const nf = cfg.parts.nftables!;
    const doc = effective.current.doc;
    if (!doc) return;
    nft ??= { ...EMPTY, skipped: [] };
    try {
      const rendered = renderRuleset({ ...withLoginPage(nf.render, cfg), doc, proxies: nf.render.proxies ? [...nf.render.proxies] : proxies() });
      await checkInterfaces(rendered);
      if (rendered.skipped.length > 0) core.log.warn(`nftables: ${rendered.skipped.length} conduit part(s) left denied: ${rendered.skipped.map((s) => `${s.conduit} (${s.reason})`).join('; ')}`);
      const applied = await applyRuleset(rendered.text, { ...core.options.nftCommand, table: rendered.table, keepDir: nf.keepDir ?? join(cfg.stateDir, 'nftables') });
      nft = { ...nft, enabled: true, appliedSha256: applied.sha256, appliedAt: core.now(), keptAt: applied.keptAt ?? null, skipped: rendered.skipped.map((s) => ({ ...s })), lastError: null };
      core.alarms.clear('nftables');
      core.record({ kind: 'config', source: 'nftables', policyVersion: effective.current.version ?? undefined, message: 'nftables ruleset applied', detail: { sha256: applied.sha256, table: applied.table, skipped: rendered.skipped.length } });
      core.log.info(`nftables: table ${applied.table} applied (${applied.sha256.slice(0, 12)})`);
      readCountersSoon();
    } catch (e) {
      const d = describeError(e);
      nft.lastError = { at: core.now(), code: d.code, message: d.message };
      core.alarms.raise('nftables', 'critical', `nftables ruleset not applied (${d.code}): ${d.message}; the proxies keep enforcing`);
      core.record({ kind: 'config', source: 'nftables', message: 'nftables ruleset refused', detail: { code: d.code, error: d.message } });
      core.log.error(`nftables: ${d.code}: ${d.message} (the proxies keep enforcing)`);
    }
  }

  function schedule(): void {
    if (!core.config?.parts.nftables?.enabled) return;
    if (hold > 0) { wanted = true; return; }
    void queue.run(applyNow);
  }

  /** Reads the applied ruleset's counters back (zonegate status shows hits per conduit). */
  function readCountersSoon(): void {
    const nf = core.config?.parts.nftables;
    if (!nf?.enabled || !nft?.appliedSha256) return;
    void queue.run(async () => {
      try {
        const c = await readCounters({ ...core.options.nftCommand, table: nf.render.table ?? 'zonegate' });
        if (nft) nft.counters = { at: core.now(), byConduit: c.byConduit, shared: c.shared, drops: c.drops };
      } catch (e) {
        core.log.warn(`nftables counters: ${describeError(e).message}`);
      }
    });
  }

  return {
    schedule,
    async hold(fn) {
      hold += 1;
      wanted = false;
      try {
        const r = await fn();
        if (r.ok) wanted = true;
        return r;
      } finally {
        hold -= 1;
        if (hold === 0 && wanted) { wanted = false; schedule(); }
      }
    },
    status() {
      if (!core.config?.parts.nftables?.enabled) return null;
      return nft ? { ...nft, skipped: nft.skipped.map((s) => ({ ...s })) } : { ...EMPTY, skipped: [] };
    },
    idle: () => queue.idle(),
    start() {
      if (!core.config?.parts.nftables?.enabled) return;
      timer = setInterval(readCountersSoon, core.options.nftCountersMs ?? 30_000);
      timer.unref();
    },
    stop() { if (timer) clearInterval(timer); timer = undefined; },
  };
}
