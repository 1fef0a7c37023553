/**
 * Reads the rule counters of the zonegate table back (`nft -j list table inet T`, libnftables
 * JSON, nft(8) "JSON"), keyed by the rule comments render.ts writes, so that packets and bytes
 * map back to conduits:
 *   "conduit ID"                          a plain conduit's forward accept (new connections)
 *   "proxy ASSET:PORT conduits ID ID ..." a DNAT to a proxy (shared by the conduits listed)
 *   "quarantine", "default drop", "zone input drop", "input drop", "management ..."
 * Attribution is honest: a counter is credited to a conduit only when its rule serves that
 * conduit alone; a DNAT shared by several conduits is reported once, as shared, with the
 * conduits it serves (the kernel cannot tell them apart: the proxy does, per request). Rules that
 * drop are summed apart, by comment. The table is replaced on every apply (counters start at 0).
 */
import { ZonegateError } from '../../policy/errors';
import { tableProblem } from './names';
import { looksUnavailable, nftUnavailable, runNft, summarize } from './run-nft';
import type { NftCommandOptions } from './run-nft';

export interface PacketCount { packets: number; bytes: number }

export interface RuleCounter extends PacketCount {
  chain: string;
  handle: number;
  comment: string;
}

export interface Counters {
  /** Every rule that has both a counter and a comment, in listing order. */
  rules: RuleCounter[];
  /** Summed by comment (a conduit's IPv4 and IPv6 rules share one). */
  byComment: Record<string, PacketCount>;
  /** Summed by conduit id: its forward accepts, plus the proxy redirects that serve it alone. */
  byConduit: Record<string, PacketCount>;
  /** Proxy redirects serving several conduits, by comment: counted once, with the conduits named. */
  shared: Record<string, SharedCount>;
  /** Rules that drop (quarantine, default and input drops, management off its interfaces), by comment. */
  drops: Record<string, PacketCount>;
}

export interface SharedCount extends PacketCount {
  /** The conduits the rule serves (as far as its comment names them). */
  conduits: string[];
  /** Conduits the comment left out for length (` +N`). */
  more: number;
}

/** Rules that end a chain that drops by policy: a counter with no verdict, the drop being the policy's. */
const POLICY_DROPS = new Set(['default drop', 'input drop']);

function add(into: Record<string, PacketCount>, key: string, c: PacketCount): void {
  const cur = into[key] ?? (into[key] = { packets: 0, bytes: 0 });
  cur.packets += c.packets;
  cur.bytes += c.bytes;
}

/** Parses `nft -j list table` output. Throws ERR_NFT when it is not libnftables JSON. */
export function parseCounters(json: string, table = 'zonegate'): Counters {
  let doc: unknown;
  try { doc = JSON.parse(json); } catch (e) { throw new ZonegateError('ERR_NFT', 'nft -j printed something that is not JSON', { cause: e }); }
  const items = (doc as { nftables?: unknown })?.nftables;
  if (!Array.isArray(items)) throw new ZonegateError('ERR_NFT', 'nft -j output has no "nftables" array');
  const rules: RuleCounter[] = [];
  const byComment: Record<string, PacketCount> = Object.create(null);
  const byConduit: Record<string, PacketCount> = Object.create(null);
  const shared: Record<string, SharedCount> = Object.create(null);
  const drops: Record<string, PacketCount> = Object.create(null);
  for (const item of items) {
    const rule = (item as { rule?: Record<string, unknown> })?.rule;
    if (!rule || rule.table !== table || typeof rule.comment !== 'string' || !Array.isArray(rule.expr)) continue;
    const counter = (rule.expr as { counter?: { packets?: unknown; bytes?: unknown } }[]).find((e) => e && typeof e === 'object' && 'counter' in e)?.counter;
    if (!counter || typeof counter.packets !== 'number' || typeof counter.bytes !== 'number') continue;
    const c: RuleCounter = { chain: String(rule.chain), handle: Number(rule.handle), comment: rule.comment, packets: counter.packets, bytes: counter.bytes };
    rules.push(c);
    add(byComment, c.comment, c);
    const words = c.comment.split(' ');
    const isDrop = (rule.expr as Record<string, unknown>[]).some((e) => e && typeof e === 'object' && 'drop' in e);
    if (isDrop || POLICY_DROPS.has(c.comment)) add(drops, c.comment, c);
    else if (words[0] === 'conduit' && words.length === 2) add(byConduit, words[1], c);
    else if (words[0] === 'proxy' && words[2] === 'conduits') {
      const ids = words.slice(3).filter((w) => !w.startsWith('+'));
      const more = words.slice(3).filter((w) => w.startsWith('+')).reduce((n, w) => n + (Number(w.slice(1)) || 0), 0);
      if (ids.length === 1 && more === 0) add(byConduit, ids[0], c);
      else {
        const cur = shared[c.comment] ?? (shared[c.comment] = { packets: 0, bytes: 0, conduits: ids, more });
        cur.packets += c.packets;
        cur.bytes += c.bytes;
      }
    }
  }
  return { rules, byComment, byConduit, shared, drops };
}

/** Reads the counters of the running table; ERR_NFT when nft is unavailable or the table is absent. */
export async function readCounters(opts: NftCommandOptions & { table?: string } = {}): Promise<Counters> {
  const table = opts.table ?? 'zonegate';
  const problem = tableProblem(table);
  if (problem) throw new TypeError(problem);
  const r = await runNft(['-j', 'list', 'table', 'inet', table], undefined, opts);
  if (r.code !== 0) {
    if (looksUnavailable(r.stderr)) throw nftUnavailable(summarize(r.stderr, 2));
    throw new ZonegateError('ERR_NFT', `nft -j list table inet ${table} failed: ${summarize(r.stderr)}`);
  }
  return parseCounters(r.stdout, table);
}
