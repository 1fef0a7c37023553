/**
 * The gateway's status document, published retained on `.../<device>/status` (JSON), with a
 * last will carrying the same document with `online: false`. Protocol code: the fleet parses
 * it with parseStatus(), which treats the payload as untrusted input.
 *
 * `policyHash` is the lower-case hex sha256 of the exact signed bundle bytes that are active;
 * `applied` holds the same hash for the last payload of each inbound kind a handler accepted,
 * which is what `fleet publish --wait` matches; `refused` the hash and error code of the last
 * payload of each kind a handler refused (absent when none), so that a publisher stops waiting
 * for a gateway that said no.
 */
import type { InboundKind } from './topics';

export const STATUS_SCHEMA = 1;

export interface StatusError {
  /** Epoch ms. */
  at: number;
  code: string;
  message: string;
}

export interface StatusDocument {
  schema: number;
  device: string;
  site: string;
  online: boolean;
  /** The active policy bundle's version, hex sha256 of its bytes, and expiry (epoch ms). */
  policyVersion: number | null;
  policyHash: string | null;
  policyExpiresAt: number | null;
  /** Hex sha256 of the last payload of each kind whose handler accepted it. */
  applied: Partial<Record<InboundKind, string>>;
  lastError: StatusError | null;
  /** Seconds since the runtime started. */
  uptimeSeconds: number;
  /** Short alarm names, e.g. `policy-expired`. */
  alarms: string[];
  runtimeVersion: string;
  /** Epoch ms at which the gateway wrote this document. */
  lastSeen: number;
  /**
   * Optional (gateways before these fields leave them out; consoles before them ignore them):
   * the A/B slot the runtime runs from (null: not an A/B install), and the gateway's listeners.
   */
  slot?: 'a' | 'b' | null;
  listeners?: StatusListener[];
  /** The last payload of each kind a handler refused, while no later one of that kind was accepted. */
  refused?: Partial<Record<InboundKind, StatusRefusal>>;
}

/** A refused payload: the hex sha256 of its bytes, the error code, when (epoch ms). */
export interface StatusRefusal {
  hash: string;
  code: string;
  at: number;
}

/** One listener as the status document carries it (at most MAX_STATUS_LISTENERS). */
export interface StatusListener {
  /** Where it listens (bound address when known), the asset and service behind it, and its state. */
  listen: string;
  asset: string;
  service: string;
  servicePort: number;
  state: string;
  error?: string;
}

export const MAX_STATUS_LISTENERS = 64;

/** What the gateway's own parts know: the store's active policy and the alarms. */
export interface GatewayState {
  policyVersion?: number | null;
  policyHash?: string | null;
  policyExpiresAt?: number | null;
  alarms?: string[];
  /** The store's or another part's last error, merged with the sync's (newest wins). */
  lastError?: StatusError | null;
  slot?: 'a' | 'b' | null;
  listeners?: StatusListener[];
}

/** The optional fields of the document from what the gateway's parts know (absent stays absent). */
export function statusExtras(s: GatewayState): Pick<StatusDocument, 'slot' | 'listeners'> {
  const out: Pick<StatusDocument, 'slot' | 'listeners'> = {};
  if (s.slot !== undefined) out.slot = s.slot;
  if (s.listeners) out.listeners = s.listeners.slice(0, MAX_STATUS_LISTENERS).map((l) => ({ ...l }));
  return out;
}

function parseListeners(x: unknown): StatusListener[] | undefined {
  if (!Array.isArray(x)) return undefined;
  const out: StatusListener[] = [];
  for (const l of x.slice(0, MAX_STATUS_LISTENERS)) {
    if (!l || typeof l !== 'object') continue;
    const o = l as Record<string, unknown>;
    const listen = optStr(o.listen, 128);
    if (listen === null) continue;
    const e = optStr(o.error, 300);
    out.push({ listen, asset: optStr(o.asset, 128) ?? '', service: optStr(o.service, 32) ?? '', servicePort: isNum(o.servicePort) ? o.servicePort : 0, state: optStr(o.state, 16) ?? '', ...(e === null ? {} : { error: e }) });
  }
  return out;
}

/** Encodes a status document as its JSON payload. */
export function encodeStatus(doc: StatusDocument): Buffer {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

const HASH = /^[0-9a-f]{64}$/;
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const optNum = (x: unknown): number | null => (isNum(x) ? x : null);
const optStr = (x: unknown, max = 200): string | null => (typeof x === 'string' ? x.slice(0, max) : null);

/**
 * Parses a status payload from the network: undefined when it is not a status document; unknown
 * or malformed fields become null/empty, strings are truncated. Never throws.
 */
export function parseStatus(payload: Uint8Array | string, maxBytes = 64 * 1024): StatusDocument | undefined {
  if (payload.length === 0 || payload.length > maxBytes) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  if (typeof o.device !== 'string' || typeof o.site !== 'string' || typeof o.online !== 'boolean') return undefined;
  const applied: Partial<Record<InboundKind, string>> = {};
  if (o.applied && typeof o.applied === 'object') {
    for (const k of ['policy', 'trust', 'grant', 'command'] as const) {
      const h = (o.applied as Record<string, unknown>)[k];
      if (typeof h === 'string' && HASH.test(h)) applied[k] = h;
    }
  }
  let lastError: StatusError | null = null;
  const e = o.lastError as Record<string, unknown> | null | undefined;
  if (e && typeof e === 'object' && isNum(e.at)) {
    lastError = { at: e.at, code: optStr(e.code, 64) ?? 'ERR_UNKNOWN', message: optStr(e.message, 500) ?? '' };
  }
  const hash = optStr(o.policyHash, 64);
  return {
    schema: isNum(o.schema) ? o.schema : 0,
    device: o.device.slice(0, 128),
    site: o.site.slice(0, 128),
    online: o.online,
    policyVersion: optNum(o.policyVersion),
    policyHash: hash && HASH.test(hash) ? hash : null,
    policyExpiresAt: optNum(o.policyExpiresAt),
    applied,
    lastError,
    uptimeSeconds: isNum(o.uptimeSeconds) ? o.uptimeSeconds : 0,
    alarms: Array.isArray(o.alarms) ? o.alarms.filter((a): a is string => typeof a === 'string').slice(0, 32).map((a) => a.slice(0, 64)) : [],
    runtimeVersion: optStr(o.runtimeVersion, 64) ?? '',
    lastSeen: isNum(o.lastSeen) ? o.lastSeen : 0,
    ...(o.slot === 'a' || o.slot === 'b' || o.slot === null ? { slot: o.slot } : {}),
    ...(Array.isArray(o.listeners) ? { listeners: parseListeners(o.listeners) } : {}),
    ...parseRefused(o.refused),
  };
}

function parseRefused(x: unknown): Pick<StatusDocument, 'refused'> {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return {};
  const refused: Partial<Record<InboundKind, StatusRefusal>> = {};
  for (const k of ['policy', 'trust', 'grant', 'command'] as const) {
    const r = (x as Record<string, unknown>)[k] as Record<string, unknown> | undefined;
    if (!r || typeof r !== 'object' || typeof r.hash !== 'string' || !HASH.test(r.hash) || !isNum(r.at)) continue;
    refused[k] = { hash: r.hash, code: optStr(r.code, 64) ?? 'ERR_UNKNOWN', at: r.at };
  }
  return Object.keys(refused).length ? { refused } : {};
}
