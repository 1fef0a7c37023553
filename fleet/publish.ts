/**
 * Publishes a signed bundle to a device's or a site's topic (retained, QoS 1) and optionally
 * watches the retained status topics until N gateways report it (design.md "MQTT").
 *
 * The bundle is never believed here either: its envelope `type` and body `version` are read,
 * without verification, only to pick the topic and to label the progress. A gateway counts as
 * done when its status carries the hex sha256 of the exact bytes published (`policyHash` for
 * policies, `applied[kind]` for every kind), so a forged label cannot fake a rollout.
 */
import { createHash } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { ZonegateError } from '../policy/errors';
import { decodeCbor, decodeEnvelope } from '../policy/bundle';
import { trustFileBytes } from '../policy/bundle/trust-file';
import { isMap } from '../policy/bundle/decode-envelope';
import { deviceTopic, idProblem, INBOUND_KINDS, parseTopic, siteFilter, siteTopic, TOPIC_KINDS, type InboundKind } from '../protocol/mqtt/topics';
import { parseStatus, type StatusDocument } from '../protocol/mqtt/status';

/** What the bundle says about itself: unverified, for choosing a topic and for display. */
export interface BundleLabel {
  type?: string;
  version?: number;
  site?: string;
  targets?: string[];
}

/** Reads the envelope's type and the body's version, site and targets; {} when unreadable. */
export function readBundleLabel(bytes: Uint8Array): BundleLabel {
  try {
    const env = decodeEnvelope(bytes);
    const label: BundleLabel = { type: env.type };
    try {
      const body = decodeCbor(env.body, { what: 'bundle body', maxDepth: 16 });
      if (isMap(body)) {
        if (typeof body.version === 'number') label.version = body.version;
        if (typeof body.site === 'string') label.site = body.site;
        if (Array.isArray(body.targets)) label.targets = body.targets.filter((t): t is string => typeof t === 'string');
      }
    } catch { /* the type alone is enough to route */ }
    return label;
  } catch {
    return {};
  }
}

export interface RolloutProgress {
  /** Gateways whose status carries the bundle's hash. */
  matched: number;
  wanted: number;
  /** Gateways with any status seen. */
  seen: number;
  elapsedMs: number;
  label: string;
}

export interface PublishBundleOptions {
  /** A connected client (fleet/broker.ts). */
  client: MqttClient;
  site: string;
  /** One device, or undefined with `all: true` for the site-wide topic. */
  device?: string;
  all?: boolean;
  bytes: Uint8Array;
  /** The topic kind; by default the envelope's type. */
  kind?: InboundKind;
  /** Wait for this many gateways to report the bundle. 0 = don't wait. */
  wait?: number;
  /** Give up waiting after this long, ms. Default 30,000. */
  timeoutMs?: number;
  onProgress?: (p: RolloutProgress) => void;
  now?: () => number;
  signal?: AbortSignal;
}

export interface LaggingGateway {
  device: string;
  online: boolean;
  policyVersion: number | null;
  lastError: string | null;
}

export interface RefusingGateway {
  device: string;
  /** `CODE: message` (the message when the gateway's lastError is that refusal), or the code alone. */
  error: string;
}

export interface PublishResult {
  topic: string;
  kind: InboundKind;
  /** Hex sha256 of the published bytes. */
  hash: string;
  bytes: number;
  label: BundleLabel;
  /** Present when waiting was asked for. */
  rollout?: {
    wanted: number;
    matched: string[];
    lagging: LaggingGateway[];
    /** The gateways whose status says they refused these very bytes, with the error. */
    refused: RefusingGateway[];
    done: boolean;
    elapsedMs: number;
  };
}

/**
 * The bytes that go on the wire: a trust root's JSON wrapper (root.json, what `fleet trust init`
 * writes) is unwrapped to the exact signed envelope it carries, so its type routes it and its
 * hash is the one gateways report; anything else is published as is.
 */
export function wireBytes(file: Uint8Array): Uint8Array {
  try { return trustFileBytes(file); } catch { return file; }
}

/** The topic kind a bundle goes to: `kind` if given, else its envelope type. Throws ERR_USAGE. */
export function topicKindFor(label: BundleLabel, kind?: string): InboundKind {
  const k = kind ?? label.type;
  if (k === undefined) throw new ZonegateError('ERR_USAGE', 'the bundle cannot be decoded to find its type; pass --topic-kind');
  if (!(INBOUND_KINDS as readonly string[]).includes(k)) {
    throw new ZonegateError('ERR_USAGE', `no topic for bundle type '${k}'; pass --topic-kind (one of ${INBOUND_KINDS.join(', ')})`);
  }
  return k as InboundKind;
}

/** Does this status show the bundle with this hash as applied? */
export function statusHas(doc: StatusDocument, kind: InboundKind, hash: string): boolean {
  return doc.applied[kind] === hash || (kind === 'policy' && doc.policyHash === hash);
}

/** The refusal this status reports for the bundle with this hash, if it refused it. */
export function statusRefused(doc: StatusDocument, kind: InboundKind, hash: string): RefusingGateway | undefined {
  const r = doc.refused?.[kind];
  if (!r || r.hash !== hash) return undefined;
  const e = doc.lastError;
  return { device: doc.device, error: e && e.code === r.code && e.at === r.at ? `${e.code}: ${e.message}` : r.code };
}

/**
 * What the statuses say of the bundle: the gateways that report it, those that do not (with
 * their last error), those whose status names it refused, and how many online ones have not
 * answered either way.
 */
export function rolloutState(docs: Iterable<StatusDocument>, kind: InboundKind, hash: string): { matched: string[]; lagging: LaggingGateway[]; refused: RefusingGateway[]; unanswered: number } {
  const matched: string[] = [], lagging: LaggingGateway[] = [], refused: RefusingGateway[] = [];
  let unanswered = 0;
  for (const d of [...docs].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0))) {
    if (statusHas(d, kind, hash)) { matched.push(d.device); continue; }
    lagging.push({ device: d.device, online: d.online, policyVersion: d.policyVersion, lastError: d.lastError ? `${d.lastError.code}: ${d.lastError.message}` : null });
    const no = statusRefused(d, kind, hash);
    if (no) refused.push(no); else if (d.online) unanswered += 1;
  }
  return { matched, lagging, refused, unanswered };
}

/** `[#####.....] 512/1000 gateways on v7, 1.8 s` */
export function formatProgress(p: RolloutProgress, width = 20): string {
  const frac = p.wanted > 0 ? Math.min(1, p.matched / p.wanted) : 1;
  const full = Math.round(frac * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${p.matched}/${p.wanted} gateways on ${p.label}, ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

/** Publishes the bytes retained QoS 1 (resolves on PUBACK), then waits as asked. */
export async function publishBundle(options: PublishBundleOptions): Promise<PublishResult> {
  const { client, site } = options;
  const now = options.now ?? Date.now;
  const siteProblem = idProblem(site, 'site');
  if (siteProblem) throw new ZonegateError('ERR_USAGE', siteProblem);
  if (options.all === (options.device !== undefined)) throw new ZonegateError('ERR_USAGE', 'give exactly one of --device D or --all');
  if (options.device !== undefined) {
    const p = idProblem(options.device, 'device');
    if (p) throw new ZonegateError('ERR_USAGE', p);
  }
  const bytes = wireBytes(options.bytes);
  const label = readBundleLabel(bytes);
  const kind = topicKindFor(label, options.kind);
  if (bytes.length > TOPIC_KINDS[kind].maxBytes) {
    throw new ZonegateError('ERR_MQTT_PAYLOAD', `${kind} bundle of ${bytes.length} bytes exceeds the gateways' default limit of ${TOPIC_KINDS[kind].maxBytes}`);
  }
  const topic = options.device !== undefined ? deviceTopic({ site, device: options.device, kind }) : siteTopic({ site, kind });
  const hash = createHash('sha256').update(bytes).digest('hex');
  const result: PublishResult = { topic, kind, hash, bytes: bytes.length, label };
  const wanted = options.wait ?? 0;
  const started = now();

  // Subscribe to the statuses first, so no report between publish and subscribe is missed.
  const docs = new Map<string, StatusDocument>();
  let onMessage: ((t: string, p: Buffer) => void) | undefined;
  let wake: (() => void) | undefined;
  const filter = siteFilter({ site, kind: 'status' });
  if (wanted > 0) {
    onMessage = (t, p) => {
      // The ACL lets only a device write its own status topic: believe the topic, not the body.
      const pt = parseTopic(t);
      if (!pt || pt.kind !== 'status' || pt.site !== site) return;
      const d = parseStatus(p);
      if (!d || d.site !== site || d.device !== pt.device) return;
      if (options.device !== undefined && d.device !== options.device) return;
      docs.set(d.device, d);
      wake?.();
    };
    client.on('message', onMessage);
    await new Promise<void>((resolve, reject) => client.subscribe(filter, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  }
  try {
    await new Promise<void>((resolve, reject) => {
      client.publish(topic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 1, retain: true }, (e) => {
        if (e) reject(new ZonegateError('ERR_MQTT_CONNECT', `the broker refused the publish on ${topic}: ${e.message}`, { cause: e }));
        else resolve();
      });
    });
    if (wanted === 0) return result;

    const display = label.version !== undefined ? `v${label.version}` : hash.slice(0, 12);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const count = () => [...docs.values()].filter((d) => statusHas(d, kind, hash)).length;
    const progress = () => options.onProgress?.({ matched: count(), wanted, seen: docs.size, elapsedMs: now() - started, label: display });
    let done = false;
    await new Promise<void>((resolve) => {
      const finish = () => { clearTimeout(timer); clearInterval(ticker); options.signal?.removeEventListener('abort', finish); wake = undefined; resolve(); };
      const timer = setTimeout(finish, timeoutMs);
      const ticker = setInterval(progress, 250);
      options.signal?.addEventListener('abort', finish, { once: true });
      // Done when enough gateways report the bundle. Over, not done, once some gateway refused
      // these bytes and every online gateway seen has answered one way or the other: waiting
      // cannot change a refusal (a refused bundle is retried only under a new trust root).
      wake = () => {
        const r = rolloutState(docs.values(), kind, hash);
        if (r.matched.length >= wanted) { done = true; finish(); } else if (r.refused.length > 0 && r.unanswered === 0) finish();
      };
      wake();
    });
    progress();
    const { matched, lagging, refused } = rolloutState(docs.values(), kind, hash);
    result.rollout = { wanted, matched, lagging, refused, done, elapsedMs: now() - started };
    return result;
  } finally {
    if (onMessage) {
      client.off('message', onMessage);
      client.unsubscribe(filter);
    }
  }
}
