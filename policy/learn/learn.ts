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
import { ConduitComments, LearntTests, type Seen } from './learnt-tests';

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
  /** The learnt policy without its tests (`doc.tests` is empty): see `tests`. */
  doc: PolicyDocument;
  /**
   * The learnt policy's tests, made one at a time as they are read (the base policy's, then per
   * narrowed and new conduit an allow from real traffic and its boundary denies): a large site's
   * tens of thousands of tests are never held as one list. Each call starts over, unless
   * `release`: then the tests can be read once, what each group's come from let go as they are made.
   */
  tests: (release?: boolean) => Generator<PolicyTest, void, void>;
  /** Comment lines per conduit id (count, first and last seen). */
  comments: ConduitComments;
  stats: { observed: number; learnt: number; skipped: Record<string, number>; added: number; narrowed: number; unchanged: number };
  /** Asset ids the observations name that the base policy does not declare (their addresses are unknown). */
  unknownAssets: string[];
}

const NOT_TRAFFIC = new Set(['malformed', 'rate-limited', 'quarantined']);
/** A small number per policy protocol a handler learns (groups and scopes are keyed by it). */
const PROTOCOL_NUMBER: ReadonlyMap<string, number> = new Map([...new Set([...PROTOCOL_HANDLERS.values()].map((h) => h.policyProtocol))].map((p, i) => [p, i]));
if (PROTOCOL_NUMBER.size > 8) throw new TypeError('learn.ts keys scopes by port * 8 + protocol number: more than 8 protocols');
/** A learner that has made its blocks (takeBlocks). */
const SPENT: OperationLearner = { add() { throw new TypeError('learner spent'); }, blocks: () => [] };
/** A group's blocks, made once: its learner is released. */
function takeBlocks(g: Group, slack: number): LearntBlock[] {
  const blocks = g.learner.blocks(slack);
  g.learner = SPENT;
  return blocks;
}
/** What a group saw, without its learner (held by comments and tests until the text is written). */
const seenOf = (g: Group): Seen => ({ src: g.src, asset: g.asset, count: g.count, denied: g.denied, first: g.first, last: g.last });
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

  /** The base policy's index while observations come (released by result()). */
  private baseIndex: PolicyIndex | undefined;
  /** Set by result(): the learner has made its policy and released what it gathered. */
  private done = false;

  constructor(o: LearnOptions) {
    this.o = o;
    this.baseIndex = o.baseIndex;
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
    if (this.done) throw new TypeError('PolicyLearner.add after result()');
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
    const index = this.baseIndex;
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

  /**
   * The learnt policy. Once: what the learner gathered is released as the policy is made (each
   * group's learner once its blocks are made), so that a large site's learners and its policy
   * are not held at once.
   */
  result(): LearnResult {
    if (this.done) throw new TypeError('PolicyLearner.result() twice');
    this.done = true;
    this.pairs.clear();
    this.canonical.clear();
    this.baseIndex = undefined;
    const slack = this.o.slack ?? 0;
    const base = this.o.base;
    const zones: Zone[] = base ? base.zones.map((z) => ({ ...z })) : [];
    const assets: Asset[] = base ? base.assets.map((a) => ({ ...a })) : [];
    const identities: Identity[] = base ? base.identities.map((i) => ({ ...i })) : [];
    const comments = new ConduitComments();
    const testsOf = new LearntTests();
    const conduitIds = new Set(base?.conduits.map((c) => c.id) ?? []);
    placeNewAssets([...this.newAssets.values()], zones, assets);
    const idOfSource = sourceNamer(identities);
    // Narrowed base conduits.
    let narrowed = 0, unchanged = 0;
    const conduits: Conduit[] = [];
    for (const c of base?.conduits ?? []) {
      const g = this.narrow.get(c.id);
      if (g === undefined) { conduits.push(c); comments.unused(c.id); unchanged++; continue; }
      const blocks = takeBlocks(g, slack);
      const n = narrowConduit(c, blocks);
      if (n.changed) narrowed++; else unchanged++;
      conduits.push(n.conduit);
      const seen = seenOf(g);
      comments.base(c.id, seen, n.changed);
      testsOf.add(blocks, seen);
    }
    // New conduits, sorted by asset, then source.
    const groups = [...this.groups].sort((a, b) => a.asset.localeCompare(b.asset) || a.src.localeCompare(b.src) || a.handler.policyProtocol.localeCompare(b.handler.policyProtocol));
    let added = 0;
    for (const g of groups) {
      const who = idOfSource(g.src);
      const blocks = takeBlocks(g, slack);
      const seen = seenOf(g);
      for (const b of blocks) {
        // Joined, not a template: V8 keeps a template's result as a tree of its parts (three
        // small strings more per id, held by the policy, its index and the comments).
        const what = b.suffix || g.handler.policyProtocol;
        let id = [who, '-to-', g.asset, '-', what].join('');
        for (let k = 2; conduitIds.has(id) || !isValidId(id); k++) id = [who, '-to-', g.asset, '-', what, '-', k].join('').slice(-128);
        conduitIds.add(id);
        conduits.push({
          id, from: { identities: [who], roles: [], zones: [] }, to: { assets: [g.asset], zones: [] }, protocol: g.handler.policyProtocol,
          ...(b.fields.ports ? { ports: b.fields.ports } : {}),
          ...(b.fields.allow ? { allow: b.fields.allow } : {}),
          ...(b.fields.dnp3 ? { dnp3: b.fields.dnp3 } : {}),
          ...(b.fields.iec104 ? { iec104: b.fields.iec104 } : {}),
          requires: { edgeAuth: false, grant: false }, mode: 'enforce',
        });
        comments.learnt(id, seen, b.count);
        added++;
      }
      testsOf.add(blocks, seen);
    }
    const baseTests = base?.tests ?? [];
    const tests = function* (release = false): Generator<PolicyTest, void, void> {
      yield* baseTests;
      yield* testsOf.tests(release);
    };
    const doc: PolicyDocument = {
      site: this.o.site, zones, assets, identities, conduits,
      quarantine: base ? [...base.quarantine] : [], settings: base ? { ...base.settings } : { onExpiry: 'keep-enforcing' }, tests: [],
    };
    const learnt = [...this.groups, ...this.narrow.values()].reduce((n, g) => n + g.count, 0);
    const declared = new Set(assets.map((a) => a.id));
    const unknownAssets = [...new Set(groups.map((g) => g.asset))].filter((a) => !declared.has(a)).sort();
    return { doc, tests, comments, unknownAssets, stats: { observed: this.observed, learnt, skipped: { ...this.skipped }, added, narrowed, unchanged } };
  }
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

