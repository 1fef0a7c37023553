/**
 * IP addresses and CIDR prefixes as bytes, parsed and printed without node:net (policy/ is pure).
 *
 * IPv4: RFC 791 dotted quad, exactly four decimal octets 0..255; a leading zero is rejected
 * ("010.0.0.1" means octal to some parsers and decimal to others, so it is ambiguous).
 * IPv6: RFC 4291 section 2.2 text forms (eight groups, one `::`, a trailing embedded IPv4);
 * zone ids (`%eth0`, RFC 4007) are rejected. Printing follows RFC 5952 section 4.
 * An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2) parses as IPv4,
 * because that is the address a dual-stack socket reports for an IPv4 peer.
 */

export interface IpAddr { family: 4 | 6; bytes: Uint8Array }
export interface Cidr { family: 4 | 6; bytes: Uint8Array; prefix: number }

// One pass over the char codes (the hot path of validation and compilation): exactly four
// octets, each "0" or 1-3 digits without a leading zero, at most 255 (RFC 791 dotted quad).
function parseIpv4Bytes(s: string): Uint8Array | undefined {
  const len = s.length;
  if (len < 7 || len > 15) return undefined;
  const out = new Uint8Array(4);
  let part = 0;
  let n = 0;
  let digits = 0;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? s.charCodeAt(i) : 46; // the end closes the last octet like a '.'
    if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = n;
      n = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && n === 0) return undefined; // leading zero
      n = n * 10 + (c - 48);
      digits += 1;
      if (n > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

function parseIpv6Bytes(s: string): Uint8Array | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  const out = new Uint8Array(16);
  // An embedded IPv4 tail (RFC 4291 section 2.2 form 3) takes the last 32 bits.
  let v4: Uint8Array | undefined;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  if (s.indexOf('.', lastColon) >= 0) {
    v4 = parseIpv4Bytes(s.slice(lastColon + 1));
    if (!v4) return undefined;
    // Keep the colon(s) in front of the IPv4 part: "::1.2.3.4" → "::", "a::b:1.2.3.4" → "a::b:".
    text = s.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const groupsWanted = v4 ? 6 : 8;
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return undefined;
  const parseGroups = (t: string): number[] | undefined => {
    if (t === '') return [];
    const gs = t.split(':');
    const res: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      res.push(parseInt(g, 16));
    }
    return res;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl));
    const tail = parseGroups(text.slice(dbl + 2));
    if (!head || !tail) return undefined;
    // "::" stands for one or more zero groups (RFC 4291 section 2.2 form 2).
    if (head.length + tail.length > groupsWanted - 1) return undefined;
    groups = [...head, ...new Array<number>(groupsWanted - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text);
    if (!all || all.length !== groupsWanted) return undefined;
    groups = all;
  }
  for (let i = 0; i < groupsWanted; i++) { out[i * 2] = groups[i] >> 8; out[i * 2 + 1] = groups[i] & 0xff; }
  if (v4) out.set(v4, 12);
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Parses an IPv4 dotted quad or an IPv6 address (no zone id); IPv4-mapped IPv6 becomes family 4. */
export function parseIp(s: string): IpAddr | undefined {
  if (typeof s !== 'string') return undefined;
  if (s.includes(':')) {
    const b = parseIpv6Bytes(s);
    if (!b) return undefined;
    if (isV4Mapped(b)) return { family: 4, bytes: b.slice(12) };
    return { family: 6, bytes: b };
  }
  const b = parseIpv4Bytes(s);
  return b ? { family: 4, bytes: b } : undefined;
}

/**
 * Parses `addr/prefix` (prefix in decimal, no leading zeros, ≤ 32 or ≤ 128); a bare address is a
 * host prefix (/32, /128). Host bits are kept as written: see cidrHostBitsSet.
 * `::ffff:a.b.c.d/n` with n ≥ 96 becomes the IPv4 prefix /(n-96).
 */
export function parseCidr(s: string): Cidr | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  let prefix: number | undefined;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    prefix = Number(p);
  }
  if (addrText.includes(':')) {
    const b = parseIpv6Bytes(addrText);
    if (!b) return undefined;
    const pfx = prefix ?? 128;
    if (pfx > 128) return undefined;
    if (isV4Mapped(b) && pfx >= 96) return { family: 4, bytes: b.slice(12), prefix: pfx - 96 };
    return { family: 6, bytes: b, prefix: pfx };
  }
  const b = parseIpv4Bytes(addrText);
  if (!b) return undefined;
  const pfx = prefix ?? 32;
  if (pfx > 32) return undefined;
  return { family: 4, bytes: b, prefix: pfx };
}

/** The network address of a prefix: host bits cleared (a new Cidr). */
export function cidrNetwork(c: Cidr): Cidr {
  const bytes = c.bytes.slice();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, c.prefix - i * 8));
    bytes[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return { family: c.family, bytes, prefix: c.prefix };
}

/** True when some bit after the prefix is 1 (`10.0.0.1/8`): the validator suggests cidrNetwork. */
export function cidrHostBitsSet(c: Cidr): boolean {
  const n = cidrNetwork(c).bytes;
  for (let i = 0; i < n.length; i++) if (n[i] !== c.bytes[i]) return true;
  return false;
}

function prefixEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full] & mask) === (b[full] & mask);
}

/** Whether the address lies inside the prefix (same family only). */
export function cidrContains(c: Cidr, ip: IpAddr): boolean {
  return c.family === ip.family && prefixEqual(c.bytes, ip.bytes, c.prefix);
}

/** Whether two prefixes share any address (same family; one then contains the other). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && prefixEqual(a.bytes, b.bytes, Math.min(a.prefix, b.prefix));
}

/** Canonical text: dotted quad, or RFC 5952 (lower case, no leading zeros, longest zero run ≥ 2 as `::`). */
export function formatIp(ip: IpAddr): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[i * 2] << 8) | b[i * 2 + 1]);
  // RFC 5952 section 4.2.2/4.2.3: compress the longest run of zero groups (first if tied), not a single one.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** `addr/prefix` with the address as written (host bits kept) in canonical text. */
export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, bytes: c.bytes })}/${c.prefix}`;
}

/** An IPv4 address as an unsigned 32-bit integer; TypeError for IPv6. */
export function ipv4ToUint32(ip: IpAddr): number {
  if (ip.family !== 4) throw new TypeError('ipv4ToUint32 needs an IPv4 address');
  const b = ip.bytes;
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

/** Text of an address in canonical form, or undefined when it is not an IP address. */
export function normalizeIp(s: string): string | undefined {
  const ip = parseIp(s);
  return ip ? formatIp(ip) : undefined;
}
