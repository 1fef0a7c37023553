/**
 * Addresses as the renderer writes them: parsed once, normalised to their network, sorted, and
 * merged so that no prefix lies inside another (nft interval sets refuse overlaps). Pure.
 */
import { cidrNetwork, formatCidr, formatIp, parseCidr } from '../../policy/net';
import { cidrInterval, withoutNested } from '../../policy/address-set';

export type Family = 4 | 6;
export interface Net { family: Family; bytes: Uint8Array; prefix: number; text: string }

export const FAMILIES: readonly Family[] = [4, 6];
export const KW: Record<Family, string> = { 4: 'ip', 6: 'ip6' };

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** A CIDR or an address as a Net (a host as a bare address), or undefined when it is neither. */
export function toNet(s: string): Net | undefined {
  const c = parseCidr(s);
  if (!c) return undefined;
  const n = cidrNetwork(c);
  const full = n.family === 4 ? 32 : 128;
  const text = n.prefix === full ? formatIp({ family: n.family, bytes: n.bytes }) : formatCidr(n);
  return { family: n.family, bytes: n.bytes, prefix: n.prefix, text };
}

/** Sorted, without duplicates or prefixes inside another one (nft interval sets refuse overlaps). */
export function mergeNets(nets: readonly Net[]): Net[] {
  return withoutNested(nets, cidrInterval);
}

/** `x` or `{ x, y }`: one nft value or an anonymous set. */
export function valueSet(items: readonly string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}
