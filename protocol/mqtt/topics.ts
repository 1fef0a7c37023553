/**
 * The MQTT topic scheme (design.md "MQTT"), one table. Protocol code: the gateway's sync and the
 * fleet manager both build and parse topics here and nowhere else.
 *
 *   zonegate/v1/<site>/<device>/<kind>    one device
 *   zonegate/v1/<site>/all/<kind>         every device of the site (inbound kinds and `audit-resync`)
 *
 * Site and device ids are single topic levels: never empty, never `+`, `#`, `/` or NUL
 * (MQTT 5 §4.7.1 wildcards, §4.7.3 U+0000), and a device is never called `all`.
 */

export const TOPIC_ROOT = 'zonegate/v1';

/** The kinds the fleet sends to gateways: signed bundles the gateway verifies before believing. */
export type InboundKind = 'policy' | 'trust' | 'grant' | 'command';
/** The kinds a gateway sends. `audit/ack` comes back from the fleet for the audit uploader. */
export type OutboundKind = 'status' | 'telemetry' | 'audit';
/**
 * `audit-resync`: a collector that (re)connected without a session at the broker says so to the
 * whole site (protocol/audit/upload-batch.ts), so that uploaders resend what it may have missed.
 * One topic level, not `audit/resync`: the ACL lines that let a gateway read its site's
 * `all/+` topics already cover it.
 */
export type TopicKind = InboundKind | OutboundKind | 'audit/ack' | 'audit-resync';

export interface TopicFacts {
  /** Who publishes on it. */
  from: 'fleet' | 'gateway';
  /** May it be published on the site-wide `all` level. */
  siteWide: boolean;
  /** Published retained (the newest stays on the broker for late subscribers). */
  retained: boolean;
  /** QoS used by both sides. */
  qos: 0 | 1;
  /** Default payload cap in bytes; payloads above it are refused without decoding. */
  maxBytes: number;
  /** Only on the site-wide `all` level (no per-device topic). */
  siteOnly?: true;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** The table: every topic kind and its facts. */
export const TOPIC_KINDS: Readonly<Record<TopicKind, TopicFacts>> = Object.freeze({
  policy: { from: 'fleet', siteWide: true, retained: true, qos: 1, maxBytes: 4 * MiB },
  trust: { from: 'fleet', siteWide: true, retained: true, qos: 1, maxBytes: 256 * KiB },
  grant: { from: 'fleet', siteWide: true, retained: true, qos: 1, maxBytes: 64 * KiB },
  command: { from: 'fleet', siteWide: true, retained: false, qos: 1, maxBytes: 64 * KiB },
  'audit/ack': { from: 'fleet', siteWide: false, retained: false, qos: 1, maxBytes: 4 * KiB },
  'audit-resync': { from: 'fleet', siteWide: true, siteOnly: true, retained: false, qos: 1, maxBytes: 1 * KiB },
  status: { from: 'gateway', siteWide: false, retained: true, qos: 1, maxBytes: 64 * KiB },
  telemetry: { from: 'gateway', siteWide: false, retained: false, qos: 0, maxBytes: 256 * KiB },
  audit: { from: 'gateway', siteWide: false, retained: false, qos: 1, maxBytes: 4 * MiB },
} satisfies Record<TopicKind, TopicFacts>);

export const INBOUND_KINDS: readonly InboundKind[] = ['policy', 'trust', 'grant', 'command'];
export const SITE_WIDE = 'all';

/** Why `id` cannot be a site or device id, or undefined when it can. */
export function idProblem(id: unknown, what: 'site' | 'device'): string | undefined {
  if (typeof id !== 'string' || id.length === 0) return `${what} id must be a non-empty string`;
  if (Buffer.byteLength(id, 'utf8') > 128) return `${what} id is longer than 128 bytes`;
  if (/[+#/\u0000]/.test(id)) return `${what} id must not contain '+', '#', '/' or NUL`;
  if (what === 'device' && id === SITE_WIDE) return `device id '${SITE_WIDE}' is reserved for site-wide topics`;
  return undefined;
}

function checkId(id: string, what: 'site' | 'device'): void {
  const p = idProblem(id, what);
  if (p) throw new TypeError(`${p}: ${JSON.stringify(id)}`);
}

/** The topic of one device's `kind`. Throws TypeError on an invalid id or a site-only kind. */
export function deviceTopic(opts: { site: string; device: string; kind: TopicKind }): string {
  checkId(opts.site, 'site');
  checkId(opts.device, 'device');
  if (TOPIC_KINDS[opts.kind]?.siteOnly) throw new TypeError(`kind ${opts.kind} has no per-device topic`);
  return `${TOPIC_ROOT}/${opts.site}/${opts.device}/${opts.kind}`;
}

/** The site-wide topic of an inbound kind. Throws TypeError on an invalid site or kind. */
export function siteTopic(opts: { site: string; kind: InboundKind }): string {
  checkId(opts.site, 'site');
  if (!TOPIC_KINDS[opts.kind]?.siteWide) throw new TypeError(`kind ${opts.kind} has no site-wide topic`);
  return `${TOPIC_ROOT}/${opts.site}/${SITE_WIDE}/${opts.kind}`;
}

/** The site's `audit-resync` topic (a collector announces itself there). Throws TypeError on an invalid site. */
export function auditResyncTopic(site: string): string {
  checkId(site, 'site');
  return `${TOPIC_ROOT}/${site}/${SITE_WIDE}/audit-resync`;
}

/** The subscription filter matching `kind` of every device of a site (e.g. every status). */
export function siteFilter(opts: { site: string; kind: TopicKind }): string {
  checkId(opts.site, 'site');
  return `${TOPIC_ROOT}/${opts.site}/+/${opts.kind}`;
}

/** The topics a gateway subscribes to: its own and its site's inbound kinds, plus its audit/ack and the site's audit-resync. */
export function gatewaySubscriptions(opts: { site: string; device: string }): string[] {
  const out: string[] = [];
  for (const kind of INBOUND_KINDS) {
    out.push(deviceTopic({ site: opts.site, device: opts.device, kind }));
    out.push(siteTopic({ site: opts.site, kind }));
  }
  out.push(deviceTopic({ site: opts.site, device: opts.device, kind: 'audit/ack' }));
  out.push(auditResyncTopic(opts.site));
  return out;
}

export interface ParsedTopic {
  site: string;
  /** The device id, or 'all' for a site-wide topic. */
  device: string;
  kind: TopicKind;
  siteWide: boolean;
}

/** Parses a concrete topic of the scheme; undefined for anything else (never throws). */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return undefined;
  const rest = topic.slice(TOPIC_ROOT.length + 1).split('/');
  if (rest.length < 3) return undefined;
  const [site, device, ...k] = rest;
  const kind = k.join('/');
  if (!Object.prototype.hasOwnProperty.call(TOPIC_KINDS, kind)) return undefined;
  if (idProblem(site, 'site')) return undefined;
  const siteWide = device === SITE_WIDE;
  if (siteWide) {
    if (!TOPIC_KINDS[kind as TopicKind].siteWide) return undefined;
  } else if (idProblem(device, 'device') || TOPIC_KINDS[kind as TopicKind].siteOnly) return undefined;
  return { site, device, kind: kind as TopicKind, siteWide };
}
