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
import { describeError, taskQueue, type Core, type TaskQueue, type Part } from './core';
import type { EffectivePolicy } from './effective-policy';

const EMPTY: NftablesStatus = { enabled: true, appliedSha256: null, appliedAt: null, keptAt: null, skipped: [], lastError: null };

/** See the file comment. */
export class NftPart implements Part {
  private readonly queue: TaskQueue;
  private nft: NftablesStatus | null = null;
  private holds = 0;
  private wanted = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly core: Core, private readonly listeners: Listeners, private readonly effective: EffectivePolicy) {
    this.queue = taskQueue((e) => core.logError('nftables', e));
  }

  /** Renders and applies the ruleset (queued; held inside a reload). */
  schedule(): void {
    if (!this.core.config?.parts.nftables?.enabled) return;
    if (this.holds > 0) { this.wanted = true; return; }
    void this.queue.run(() => this.applyNow());
  }

  /** Runs `fn` with applies held; one apply afterwards when anything asked (and `fn`'s result says ok). */
  async hold<T extends { ok: boolean }>(fn: () => Promise<T>): Promise<T> {
    this.holds += 1;
    this.wanted = false;
    try {
      const r = await fn();
      if (r.ok) this.wanted = true;
      return r;
    } finally {
      this.holds -= 1;
      if (this.holds === 0 && this.wanted) { this.wanted = false; this.schedule(); }
    }
  }

  status(): NftablesStatus | null {
    if (!this.core.config?.parts.nftables?.enabled) return null;
    const nft = this.nft;
    return nft ? { ...nft, skipped: nft.skipped.map((s) => ({ ...s })) } : { ...EMPTY, skipped: [] };
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Reads the counters back every nftCountersMs. */
  start(_signal: AbortSignal): void {
    if (!this.core.config?.parts.nftables?.enabled) return;
    this.timer = setInterval(() => this.readCountersSoon(), this.core.options.nftCountersMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private proxies(): ProxyListener[] {
    const { listeners } = this;
    return [...listeners.running.values()].filter((l) => l.network).map((l) => ({
      asset: l.spec.asset, port: l.spec.servicePort, protocol: listeners.registry.get(l.spec.service).protocol,
      listen: { host: l.spec.listen.host, port: Number(l.status.address?.split(':').pop() ?? l.spec.listen.port) },
    }));
  }

  /** Warns (once per change) about zones without interfaces; alarms when a named interface is missing. */
  private async checkInterfaces(rendered: { warnings: string[]; interfaces: string[] }): Promise<void> {
    const { core } = this;
    const before = JSON.stringify(this.nft?.warnings ?? []);
    if (this.nft) this.nft.warnings = rendered.warnings;
    if (JSON.stringify(rendered.warnings) !== before) for (const w of rendered.warnings) core.log.warn(`nftables: ${w}`);
    const missing = await missingInterfaces(rendered.interfaces, core.options.nftCommand ?? {});
    if (this.nft) this.nft.missingInterfaces = missing;
    if (missing.length) {
      core.alarms.raise('nftables-interfaces', 'warning', `nftables: interface(s) ${missing.join(', ')} named by the policy or config do not exist on this device; traffic there stays denied`);
      core.log.warn(`nftables: interface(s) ${missing.join(', ')} do not exist on this device`);
    } else core.alarms.clear('nftables-interfaces');
  }

  /** Renders the active policy with the proxies and applies it; ERR_NFT is an alarm, the proxies keep enforcing. */
  private async applyNow(): Promise<void> {
    const { core } = this;
    const cfg = core.config!;
    const nf = cfg.parts.nftables!;
    const doc = this.effective.current.doc;
    if (!doc) return;
    const nft = this.nft ??= { ...EMPTY, skipped: [] };
    try {
      const rendered = renderRuleset({ ...withLoginPage(nf.render, cfg), doc, proxies: nf.render.proxies ? [...nf.render.proxies] : this.proxies() });
      await this.checkInterfaces(rendered);
      if (rendered.skipped.length > 0) core.log.warn(`nftables: ${rendered.skipped.length} conduit part(s) left denied: ${rendered.skipped.map((s) => `${s.conduit} (${s.reason})`).join('; ')}`);
      const applied = await applyRuleset(rendered.text, { ...core.options.nftCommand, table: rendered.table, keepDir: nf.keepDir ?? join(cfg.stateDir, 'nftables') });
      this.nft = { ...this.nft!, enabled: true, appliedSha256: applied.sha256, appliedAt: core.now(), keptAt: applied.keptAt ?? null, skipped: rendered.skipped.map((s) => ({ ...s })), lastError: null };
      core.alarms.clear('nftables');
      core.record({ kind: 'config', source: 'nftables', policyVersion: this.effective.current.version ?? undefined, message: 'nftables ruleset applied', detail: { sha256: applied.sha256, table: applied.table, skipped: rendered.skipped.length } });
      core.log.info(`nftables: table ${applied.table} applied (${applied.sha256.slice(0, 12)})`);
      this.readCountersSoon();
    } catch (e) {
      const d = describeError(e);
      (this.nft ?? nft).lastError = { at: core.now(), code: d.code, message: d.message };
      core.alarms.raise('nftables', 'critical', `nftables ruleset not applied (${d.code}): ${d.message}; the proxies keep enforcing`);
      core.record({ kind: 'config', source: 'nftables', message: 'nftables ruleset refused', detail: { code: d.code, error: d.message } });
      core.log.error(`nftables: ${d.code}: ${d.message} (the proxies keep enforcing)`);
    }
  }

  /** Reads the applied ruleset's counters back (zonegate status shows hits per conduit). */
  private readCountersSoon(): void {
    const nf = this.core.config?.parts.nftables;
    if (!nf?.enabled || !this.nft?.appliedSha256) return;
    void this.queue.run(async () => {
      try {
        const c = await readCounters({ ...this.core.options.nftCommand, table: nf.render.table ?? 'zonegate' });
        if (this.nft) this.nft.counters = { at: this.core.now(), byConduit: c.byConduit, shared: c.shared, drops: c.drops };
      } catch (e) {
        this.core.log.warn(`nftables counters: ${describeError(e).message}`);
      }
    });
  }
}
