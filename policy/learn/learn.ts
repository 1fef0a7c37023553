/**
 * Learning: the smallest policy that allows everything observed. Observations (audit decision
 * records, or requests read from a pcap) are grouped per source address × asset × protocol; the
 * protocol's learner (observed.ts) turns each group into allow blocks (Modbus: functions, units,
 * address ranges merged within a slack, reads and writes apart). Sources become identities by
 * address, named as the base policy names them where it knows the address; assets come from the
 * base policy (audit records name them) or, for a pcap, from the destination address.
 *
 * With a base policy (`--from`), traffic a base conduit allowed narrows that conduit to what was
 * seen (never widens it), and only the rest becomes new conduits: additions and narrowings, which
 * `policy diff` then shows. Pure: the caller reads files and checks the result.
 */
import type { Asset, Conduit, Identity, PolicyDocument, PolicyTest, Zone } from '../types';
import type { PolicyIndex } from '../compile';
import { ScopeState, decideConnect, resolveScope } from '../decide';
import { formatIp, parseIp, parseCidr, cidrContains, cidrsOverlap } from '../net';
import { isValidId } from '../check';
import type { LearntBlock, Observation, OperationLearner, ProtocolHandler } from './observed';
import { PROTOCOL_HANDLERS } from './handlers';
import { narrowConduit } from './narrow';

export interface LearnOptions {
  site: string;
  /** The policy to start from (--from): its inventory names things; its conduits are narrowed. */
  base?: PolicyDocument;
  baseIndex?: PolicyIndex;
  /** Address ranges closer than this many registers are merged (default 0). */
  slack?: number;
}

/** An observation with the destination as an address (pcap) instead of an asset id. */
export interface LearnObservation extends Observation {
  /** The destination address, when `asset` is not known. */
  dst?: string;
}

interface Group {
  src: string;
  asset: string;
  handler: ProtocolHandler;
  learner: OperationLearner;
  count: number;
  denied: number;
  first: number;
  last: number;
}

/** One source × asset: its new conduits' groups by protocol number, its base scopes by port × protocol number. */
interface Pair {
  groups: (Group | undefined)[];
  scopes: Map<number, ScopeState>;
}

export interface LearnResult {
  doc: PolicyDocument;
  /** Comment lines per conduit id (count, first and last seen). */
  comments: Map<string, string[]>;
  stats: { observed: number; learnt: number; skipped: Record<string, number>; added: number; narrowed: number; unchanged: number };
  /** Asset ids the observations name that the base policy does not declare (their addresses are unknown). */
  unknownAssets: string[];
}

const NOT_TRAFFIC = new Set(['malformed', 'rate-limited', 'quarantined']);
/** A small number per policy protocol a handler learns (groups and scopes are keyed by it). */
const PROTOCOL_NUMBER: ReadonlyMap<string, number> = new Map([...new Set([...PROTOCOL_HANDLERS.values()].map((h) => h.policyProtocol))].map((p, i) => [p, i]));
if (PROTOCOL_NUMBER.size > 8) throw new TypeError('learn.ts keys scopes by port * 8 + protocol number: more than 8 protocols');
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
const dashed = (ip: string): string => ip.replace(/[.:]+/g, '-').replace(/^-|-$/g, '');

/** Gathers observations (add) and builds the learnt policy (result). */
export class PolicyLearner {
  private readonly o: LearnOptions;
  /** New conduits' groups by source, then asset (see Pair). */
  private readonly pairs = new Map<string, Map<string, Pair>>();
  private readonly groups: Group[] = [];
  /** Per base conduit id it allowed: its learner and counts (narrowing). */
  private readonly narrow = new Map<string, Group>();
  private readonly assetsByIp = new Map<string, Asset>();
  private readonly newAssets = new Map<string, Asset>();
  /**
   * Each address as recorded → its canonical text (null: not an address), so that it is parsed
   * and formatted once per distinct address, not once per record: a million records of a few
   * thousand sources allocated two parsed addresses and a string each, garbage that V8 then
   * promoted (the parser's allocation site is trained by compile's long-lived addresses).
   */
  private readonly canonical = new Map<string, string | null>();
  private observed = 0;
  private readonly skipped: Record<string, number> = {};

  constructor(o: LearnOptions) {
    this.o = o;
    for (const a of o.base?.assets ?? []) for (const ip of a.addresses) this.assetsByIp.set(ip, a);
  }

  private skip(why: string): void { this.skipped[why] = (this.skipped[why] ?? 0) + 1; }

  /** The canonical text of an address, or null when it is not one. */
  private canonicalIp(text: string): string | null {
    let c = this.canonical.get(text);
    if (c === undefined) {
      const ip = parseIp(text);
      c = ip === undefined ? null : formatIp(ip);
      this.canonical.set(text, c);
    }
    return c;
  }

  /** The groups and scopes of one source × asset, made on first sight. */
  private pairOf(src: string, asset: string): Pair {
    let byAsset = this.pairs.get(src);
    if (byAsset === undefined) { byAsset = new Map(); this.pairs.set(src, byAsset); }
    let p = byAsset.get(asset);
    if (p === undefined) { p = { groups: [], scopes: new Map() }; byAsset.set(asset, p); }
    return p;
  }

  /** The asset id of an observation: its own, the base asset at its destination, or a new one. */
  private assetOf(obs: LearnObservation, h: ProtocolHandler): string | undefined {
    if (typeof obs.asset === 'string') return obs.asset;
    if (typeof obs.dst !== 'string') return undefined;
    const ip = this.canonicalIp(obs.dst);
    if (ip === null) return undefined;
    const known = this.assetsByIp.get(ip) ?? this.newAssets.get(ip);
    const port = obs.port ?? 0;
    if (known) {
      if (this.newAssets.get(ip) === known && !known.services.some((s) => s.port === port && s.protocol === h.policyProtocol)) known.services.push({ protocol: h.policyProtocol, port });
      return known.id;
    }
    const asset: Asset = { id: `asset-${dashed(ip)}`, zone: '', addresses: [ip], kind: 'unknown', services: [{ protocol: h.policyProtocol, port }] };
    this.newAssets.set(ip, asset);
    return asset.id;
  }

  /** Adds one observation; anything that is not a decision or a request is counted as skipped. */
  add(obs: LearnObservation): void {
    // Only decisions (audit) and requests (pcap) are traffic; the log's own records are not counted.
    if (obs.kind !== 'decision' && obs.kind !== 'request') return;
    this.observed++;
    const why = obs.decision?.decision === 'deny' ? obs.decision.reason : null;
    if (why !== null && NOT_TRAFFIC.has(why)) { this.skip(`${why} then`); return; }
    const h = PROTOCOL_HANDLERS.get(obs.protocol ?? '');
    if (!h) { this.skip(`no learner for protocol ${obs.protocol ?? '(none)'}`); return; }
    const src = typeof obs.src === 'string' ? this.canonicalIp(obs.src) : null;
    const asset = src === null ? undefined : this.assetOf(obs, h);
    if (src === null || asset === undefined) { this.skip('no source or destination'); return; }
    const pair = this.pairOf(src, asset);
    const pn = PROTOCOL_NUMBER.get(h.policyProtocol) as number;
    const byBase = this.baseConduit(obs, pair, src, asset, h, pn);
    let g = byBase === undefined ? pair.groups[pn] : this.narrow.get(byBase);
    if (!g) {
      g = { src, asset, handler: h, learner: h.newLearner(), count: 0, denied: 0, first: obs.at, last: obs.at };
      if (byBase === undefined) { pair.groups[pn] = g; this.groups.push(g); } else this.narrow.set(byBase, g);
    }
    g.learner.add(obs);
    g.count++;
    if (obs.decision?.decision === 'deny') g.denied++;
    if (obs.at < g.first) g.first = obs.at;
    if (obs.at > g.last) g.last = obs.at;
  }

  /** With a base policy: the enforcing conduit that allows this observation, if any. */
  private baseConduit(obs: Observation, pair: Pair, src: string, asset: string, h: ProtocolHandler, pn: number): string | undefined {
    const index = this.o.baseIndex;
    if (!index || !index.t.assetIndex.has(asset)) return undefined;
    // Per port (-1: none recorded) and protocol; a port outside 0..65535 is decided, never cached.
    const port = obs.port;
    const key = port === undefined ? -pn - 1 : Number.isInteger(port) && port >= 0 && port <= 0xffff ? port * 8 + pn : undefined;
    let scope = key === undefined ? undefined : pair.scopes.get(key);
    if (!scope) {
      scope = resolveScope(new ScopeState(), index, { ip: src, fromIdentity: undefined, session: undefined },
        { asset, ip: undefined, port, protocol: h.policyProtocol, hasOp: false });
      if (key !== undefined) pair.scopes.set(key, scope);
    }
    const d = h.isOperation(obs) ? h.decideOperation(scope, obs, obs.at) : decideConnect(scope, obs.at);
    return d !== null && d.decision === 'allow' && d.monitor !== true && d.conduit !== null ? d.conduit : undefined;
  }

  /** The learnt policy. */
  result(): LearnResult {
    const slack = this.o.slack ?? 0;
    const base = this.o.base;
    const zones: Zone[] = base ? base.zones.map((z) => ({ ...z })) : [];
    const assets: Asset[] = base ? base.assets.map((a) => ({ ...a })) : [];
    const identities: Identity[] = base ? base.identities.map((i) => ({ ...i })) : [];
    const comments = new Map<string, string[]>();
    const tests: PolicyTest[] = base ? [...base.tests] : [];
    const conduitIds = new Set(base?.conduits.map((c) => c.id) ?? []);
    placeNewAssets([...this.newAssets.values()], zones, assets);
    const idOfSource = sourceNamer(identities);
    const describe = (g: Group): string => `${g.count.toLocaleString('en-US')} request${g.count === 1 ? '' : 's'} from ${g.src}, first ${iso(g.first)}, last ${iso(g.last)}${g.denied ? ` (${g.denied} denied then)` : ''}`;
    // Narrowed base conduits.
    let narrowed = 0, unchanged = 0;
    const conduits: Conduit[] = [];
    for (const c of base?.conduits ?? []) {
      const g = this.narrow.get(c.id);
      if (g === undefined) { conduits.push(c); comments.set(c.id, ['no traffic seen: kept as it was (review)']); unchanged++; continue; }
      const blocks = g.learner.blocks(slack);
      const n = narrowConduit(c, blocks);
      if (n.changed) narrowed++; else unchanged++;
      conduits.push(n.conduit);
      comments.set(c.id, [`${describe(g)}${n.changed ? ': narrowed to what was seen' : ''}`]);
      tests.push(...blockTests(blocks, { ip: g.src }, g.asset, g.first));
    }
    // New conduits, sorted by asset, then source.
    const groups = [...this.groups].sort((a, b) => a.asset.localeCompare(b.asset) || a.src.localeCompare(b.src) || a.handler.policyProtocol.localeCompare(b.handler.policyProtocol));
    let added = 0;
    for (const g of groups) {
      const who = idOfSource(g.src);
      const blocks = g.learner.blocks(slack);
      for (const b of blocks) {
        let id = `${who}-to-${g.asset}-${b.suffix || g.handler.policyProtocol}`;
        for (let k = 2; conduitIds.has(id) || !isValidId(id); k++) id = `${who}-to-${g.asset}-${b.suffix || g.handler.policyProtocol}-${k}`.slice(-128);
        conduitIds.add(id);
        conduits.push({
          id, from: { identities: [who], roles: [], zones: [] }, to: { assets: [g.asset], zones: [] }, protocol: g.handler.policyProtocol,
          ...(b.fields.ports ? { ports: b.fields.ports } : {}),
          ...(b.fields.allow ? { allow: b.fields.allow } : {}),
          ...(b.fields.dnp3 ? { dnp3: b.fields.dnp3 } : {}),
          ...(b.fields.iec104 ? { iec104: b.fields.iec104 } : {}),
          requires: { edgeAuth: false, grant: false }, mode: 'enforce',
        });
        comments.set(id, [`${b.count === g.count ? describe(g) : `${b.count.toLocaleString('en-US')} of ${describe(g)}`}`]);
        added++;
      }
      tests.push(...blockTests(blocks, { ip: g.src }, g.asset, g.first));
    }
    const doc: PolicyDocument = {
      site: this.o.site, zones, assets, identities, conduits,
      quarantine: base ? [...base.quarantine] : [], settings: base ? { ...base.settings } : { onExpiry: 'keep-enforcing' }, tests,
    };
    const learnt = [...this.groups, ...this.narrow.values()].reduce((n, g) => n + g.count, 0);
    const declared = new Set(assets.map((a) => a.id));
    const unknownAssets = [...new Set(groups.map((g) => g.asset))].filter((a) => !declared.has(a)).sort();
    return { doc, comments, unknownAssets, stats: { observed: this.observed, learnt, skipped: { ...this.skipped }, added, narrowed, unchanged } };
  }
}

/** One allow test from real traffic per block, and its boundary deny probes. */
function blockTests(blocks: readonly LearntBlock[], from: { ip: string }, asset: string, at: number): PolicyTest[] {
  const out: PolicyTest[] = [];
  for (const b of blocks) {
    const req = (part: Record<string, unknown>) => ({ from, to: asset, ...part, at } as PolicyTest['request']);
    if (Object.keys(b.example).length > 0 || b.fields.ports !== undefined || b.fields.allow === undefined) {
      const ex = b.example.port !== undefined ? { protocol: 'tcp', port: b.example.port } : b.example;
      out.push({ request: req(ex), expect: 'allow' });
    }
    for (const p of b.probes) out.push({ request: req(p), expect: 'deny' });
  }
  return out;
}

/** New assets go into the base zone holding their address, else a zone of their own /24 (/64), else /32 (/128). */
function placeNewAssets(news: Asset[], zones: Zone[], assets: Asset[]): void {
  for (const a of news.sort((x, y) => x.id.localeCompare(y.id))) {
    const ip = parseIp(a.addresses[0]) as NonNullable<ReturnType<typeof parseIp>>;
    const inZone = zones.find((z) => z.networks.some((n) => { const c = parseCidr(n); return c !== undefined && cidrContains(c, ip); }));
    if (inZone) { a.zone = inZone.id; assets.push(a); continue; }
    const wide = ip.family === 4 ? `${a.addresses[0].split('.').slice(0, 3).join('.')}.0/24` : `${formatIp(ip).split(':').slice(0, 4).join(':')}::/64`;
    const wideCidr = parseCidr(wide);
    const clash = wideCidr === undefined || zones.some((z) => z.networks.some((n) => { const c = parseCidr(n); return c !== undefined && cidrsOverlap(c, wideCidr); }));
    const net = clash ? `${a.addresses[0]}/${ip.family === 4 ? 32 : 128}` : wide;
    const id = `net-${dashed(net.split('/')[0])}`;
    let z = zones.find((x) => x.id === id);
    if (!z) { z = { id, networks: [net], interfaces: [], securityLevel: 0, description: 'learnt from traffic: review' }; zones.push(z); }
    a.zone = z.id;
    assets.push(a);
  }
}

/** Names a source address: the base identity bound to it, or a new device identity. */
function sourceNamer(identities: Identity[]): (ip: string) => string {
  const byIp = new Map<string, string>();
  for (const i of identities) for (const a of i.addresses) byIp.set(a, i.id);
  return (ip) => {
    const known = byIp.get(ip);
    if (known) return known;
    const id = `host-${dashed(ip)}`;
    identities.push({ id, kind: 'device', addresses: [ip], roles: [], description: 'learnt from traffic: name it' });
    byIp.set(ip, id);
    return id;
  };
}

