/**
 * A generated Modbus site and its recorded traffic, shared by the learn tests and the learn-replay
 * bench: zones, assets (one PLC each), HMIs and N conduits from seeded random choices, and
 * requests drawn from those conduits (5% a write the conduit may not allow, 10% just past a
 * range), decided by the policy and written through the real audit log.
 */
import { generateKeyPairSync } from 'node:crypto';
import { compile } from '../../policy/compile';
import { ScopeState, decideModbus, resolveScope } from '../../policy/decide';
import type { Conduit, PolicyDocument } from '../../policy/types';
import { AuditLog } from '../../runtime/audit/log';
import { rawFromPublicKey } from '../../protocol/audit/checkpoint';
import { mulberry32 } from './prng';

const FUNCTIONS = [1, 2, 3, 4, 5, 6, 15, 16];
/** Monday 2026-11-23 06:00 UTC: the first recorded request. */
export const SITE_T0 = Date.UTC(2026, 10, 23, 6, 0);

/** A site of `nConduits` Modbus conduits (20 zones, a tenth as many PLCs, a twentieth as many HMIs). */
export function generateSite(seed: number, nConduits: number): PolicyDocument {
  const r = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const nZones = 20, nAssets = Math.max(10, nConduits / 10), nDevices = Math.max(5, nConduits / 20);
  const zones = Array.from({ length: nZones }, (_, i) => ({ id: `zone-${i}`, networks: [`10.${i}.0.0/16`], interfaces: [], securityLevel: 2 }));
  const assets = Array.from({ length: nAssets }, (_, i) => ({
    id: `plc-${i}`, zone: `zone-${i % nZones}`, addresses: [`10.${i % nZones}.${1 + (i >> 8)}.${i & 255}`], kind: 'plc',
    services: [{ protocol: 'modbus' as const, port: 502 }],
  }));
  const identities = Array.from({ length: nDevices }, (_, i) => ({ id: `hmi-${i}`, kind: 'device' as const, zone: `zone-${i % nZones}`, addresses: [`10.${i % nZones}.200.${i & 255}`], roles: [] as string[] }));
  const conduits: Conduit[] = [];
  for (let c = 0; c < nConduits; c++) {
    const fns = [...new Set(Array.from({ length: int(1, 3) }, () => FUNCTIONS[int(0, FUNCTIONS.length - 1)]))].sort((a, b) => a - b);
    const addresses = [];
    let at = int(0, 500);
    for (let k = int(1, 4); k > 0; k--) { const end = at + int(5, 200); addresses.push({ start: at, end }); at = end + int(2, 500); }
    conduits.push({
      id: `conduit-${c}`, from: { identities: [`hmi-${int(0, nDevices - 1)}`], roles: [], zones: [] }, to: { assets: [`plc-${int(0, nAssets - 1)}`], zones: [] },
      protocol: 'modbus', allow: { functions: fns, units: [1], addresses }, requires: { edgeAuth: false, grant: false }, mode: 'enforce',
    });
  }
  return { site: 'bench', zones, assets, identities, conduits, quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [] };
}

export interface SiteRequest { src: string; asset: string; fn: number; address: number; count: number }

/** `n` requests drawn from the site's conduits (seeded). */
export function* siteRequests(doc: PolicyDocument, n: number, seed: number): Generator<SiteRequest> {
  const r = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const ipOf = new Map(doc.identities.map((x) => [x.id, x.addresses[0]]));
  for (let i = 0; i < n; i++) {
    const c = doc.conduits[int(0, doc.conduits.length - 1)];
    const range = c.allow!.addresses![int(0, c.allow!.addresses!.length - 1)];
    const miss = r();
    const fn = miss < 0.05 ? 6 : c.allow!.functions[int(0, c.allow!.functions.length - 1)];
    const count = fn === 5 || fn === 6 ? 1 : int(1, 10);
    const address = miss > 0.9 ? range.end + int(1, 50) : int(range.start, Math.max(range.start, range.end - count + 1));
    yield { src: ipOf.get(c.from.identities[0])!, asset: c.to.assets[0], fn, address, count };
  }
}

const tick = (): Promise<void> => new Promise((res) => setImmediate(res));

/** Writes `n` requests (seed 7), each decided by `doc`, through the real audit log into `dir`, 500 ms apart. */
export async function recordSite(dir: string, doc: PolicyDocument, n: number): Promise<void> {
  const index = compile(doc);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const log = await AuditLog.open({ dir, device: 'bench', key: { privateKey, publicRaw: rawFromPublicKey(publicKey) }, flood: false, queueCapacity: 65_536, segmentBytes: 4 << 20, maxBytes: 4 * 1024 ** 3 });
  const scopes = new Map<string, ScopeState>();
  let i = 0;
  for (const q of siteRequests(doc, n, 7)) {
    const key = `${q.src}|${q.asset}`;
    let s = scopes.get(key);
    if (!s) { s = resolveScope(new ScopeState(), index, { ip: q.src, fromIdentity: undefined, session: undefined }, { asset: q.asset, ip: undefined, port: 502, protocol: 'modbus', hasOp: false }); scopes.set(key, s); }
    const at = SITE_T0 + i * 500;
    const d = decideModbus(s, q.fn, 1, q.address, q.count, at);
    log.record({ kind: 'decision', at, source: 'modbus-tcp', decision: { ...d }, policyVersion: '1', src: q.src, srcPort: 40000 + (i % 20000), asset: q.asset, port: 502, protocol: 'modbus', modbus: { function: q.fn, unit: 1, address: q.address, count: q.count } });
    if ((++i & 1023) === 0) { await tick(); if (log.status().queueDepth > 32_768) await log.flush(); }
  }
  await log.close();
}
