/**
 * The gateway's own input (render.ts, chain `input`): what may reach the gateway itself. Fail
 * closed: the chain's policy is drop, so a zone that names no interface (or one the device lacks)
 * opens nothing. What is accepted, besides loopback and replies (established/related, e.g. from
 * the MQTT broker): the management ports and each proxy listener, from the zones that may use
 * them. Pure.
 */
import type { Conduit, Identity, PolicyDocument, Zone } from '../../policy/types';
import { FAMILIES, KW, mergeNets, toNet, valueSet } from './nets';
import type { Family, Net } from './nets';

/** Every zone network, merged (the sources that may reach the login page without management interfaces). */
export function allZoneNets(zones: readonly Zone[]): Net[] {
  return mergeNets(zones.flatMap((z) => z.networks.map((n) => toNet(n)!)));
}

/**
 * The sources that may use a proxy listener: for each conduit through it, its source zones'
 * networks, the addresses of the devices it names (by id or role) and, for people (identities
 * without addresses, who authenticate at the edge) and roles no identity holds, the networks of
 * their zone or of every zone.
 */
export function listenerSources(conduitIds: Iterable<string>, doc: PolicyDocument): Net[] {
  const zones = new Map(doc.zones.map((z) => [z.id, z]));
  const conduits = new Map<string, Conduit>(doc.conduits.map((c) => [c.id, c]));
  const zoneNets = (id: string | undefined): Net[] => {
    const z = id === undefined ? undefined : zones.get(id);
    return z ? z.networks.map((n) => toNet(n)!) : allZoneNets(doc.zones);
  };
  const out: Net[] = [];
  const person = (d: Identity) => { out.push(...zoneNets(d.zone)); };
  for (const id of conduitIds) {
    const c = conduits.get(id);
    if (!c) continue;
    for (const z of c.from.zones) if (zones.has(z)) out.push(...zoneNets(z));
    const holders: Identity[] = [];
    for (const i of c.from.identities) { const d = doc.identities.find((x) => x.id === i); if (d) holders.push(d); }
    for (const r of c.from.roles) {
      const held = doc.identities.filter((d) => d.roles.includes(r));
      if (!held.length) out.push(...allZoneNets(doc.zones));
      holders.push(...held);
    }
    for (const d of holders) {
      if (d.addresses.length) for (const a of d.addresses) { const n = toNet(a); if (n) out.push(n); }
      else person(d);
    }
    if (!c.from.zones.length && !c.from.identities.length && !c.from.roles.length) out.push(...allZoneNets(doc.zones));
  }
  return mergeNets(out);
}

/** `ip saddr { ... } ` for one family, or undefined when no source of that family may come. */
export function saddrMatch(nets: readonly Net[], family: Family): string | undefined {
  const of = nets.filter((n) => n.family === family).map((n) => n.text);
  return of.length ? `${KW[family]} saddr ${valueSet(of)} ` : undefined;
}

/** One accept per family with sources: `PREFIX ip saddr {...} REST`. */
export function fromSources(nets: readonly Net[], rest: (family: Family) => string | undefined): string[] {
  const out: string[] = [];
  for (const f of FAMILIES) {
    const src = saddrMatch(nets, f);
    const tail = rest(f);
    if (src && tail !== undefined) out.push(`\t\t${src}${tail}`);
  }
  return out;
}

/**
 * Zones that name no interface (in the deployment facts when given, else in the policy): their
 * traffic is told apart by address only. Each one is a warning for `policy check`, `nft render`
 * and the gateway's log; the ruleset stays closed either way.
 */
export function zonesWithoutInterfaces(doc: PolicyDocument, zoneInterfaces?: Readonly<Record<string, readonly string[]>>): string[] {
  return doc.zones
    .filter((z) => !(zoneInterfaces ? zoneInterfaces[z.id]?.length : z.interfaces.length))
    .map((z) => z.id)
    .sort();
}

/** The warning text for zones without interfaces (one line each). */
export function interfaceWarnings(zoneIds: readonly string[]): string[] {
  return zoneIds.map((id) => `zone ${id} names no interfaces: the gateway tells its traffic apart by address only; its input from the zone stays closed except the proxy listeners and management ports`);
}
