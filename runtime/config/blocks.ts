/**
 * The gateway config's part blocks, validated when the config is loaded so that a mistake in
 * them is reported with file:line:col like every other config error:
 *
 *   trustRoot: { file }                         the provisioned trust root (signed bundles on)
 *   audit: { enabled?, maxBytes?, segmentBytes?, flushDelayMs?, checkpointIntervalMs? }   durable audit log, on by default
 *   mqtt: { url, clientId?, username?, passwordFile?, ca?, cert?, key?, keepalive?, maxPayloadBytes? }
 *   nftables: { enabled?, table?, counters?, keepDir?, zoneInterfaces?, management?, proxies? }
 *   console: { idleMinutes?, serial?, socket?, web?, login?, breakGlass? }   (config/access.ts)
 *   telemetry: { enabled?, intervalMs? }, update: { healthPeriodMs? }
 *
 * Each block is read here once into its typed value (PartBlocks), which the parts receive; no
 * part reads a raw block again. Paths are resolved against the config file's folder (absolute
 * paths stay as they are).
 */
import { isAbsolute, resolve } from 'node:path';
import type { Issue } from '../../policy/errors';
import type { IssueList } from '../../policy/check';
import { parseMqttConfig, type MqttConfig } from '../../protocol/mqtt/config';
import { parseNftablesConfig, type NftablesConfig } from '../../drivers/nftables/config';
import { readAccessConfig, type AccessConfig } from './access';

/** The durable audit log's settings (runtime/audit/log.ts defaults when absent). */
export interface AuditConfig {
  enabled: boolean;
  maxBytes?: number;
  segmentBytes?: number;
  flushDelayMs?: number;
  /** At most this long between signed checkpoints while records arrive (default 60 s). */
  checkpointIntervalMs?: number;
}

/** nftables with the gateway's switch; `enabled: false` (the default) renders nothing. */
export interface GatewayNftablesConfig extends NftablesConfig {
  enabled: boolean;
}

/** Host telemetry sampling (systeminformation), published to `telemetry` when MQTT is up. */
export interface TelemetryConfig {
  enabled: boolean;
  intervalMs: number;
}

/** Runtime updates on this device: how long a new version must stay healthy before it is kept. */
export interface UpdateConfig {
  /** Watchdog pings and an active policy this long after READY commit a trial version. Default 300,000. */
  healthPeriodMs: number;
}

export interface PartBlocks {
  /** Absolute path of the trust root; set = signed bundles from the policy store. */
  trustRootFile?: string;
  audit: AuditConfig;
  telemetry: TelemetryConfig;
  mqtt?: MqttConfig;
  nftables?: GatewayNftablesConfig;
  /** Only when the config has an `update:` block (defaults apply otherwise). */
  update?: UpdateConfig;
  /** Consoles, login page and login limits (the defaults when there is no `console:` block). */
  console: AccessConfig;
}

/** `mqtt.keepalive` / `nftables.proxies[0].listen` → ['mqtt', 'keepalive'] / ['nftables', 'proxies', 0, 'listen']. */
export function splitIssuePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) { out.push(part); continue; }
    if (m[1]) out.push(m[1]);
    for (const idx of m[2].match(/\d+/g) ?? []) out.push(Number(idx));
  }
  return out;
}

const abs = (dir: string, p: string | undefined) => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(dir, p));

/** Reads the part blocks (raw mappings, by name) into their typed values; every problem is added to `out`. */
export function parsePartBlocks(raw: Readonly<Record<string, Record<string, unknown>>>, dir: string, out: IssueList): PartBlocks {
  const take = (list: readonly Issue[]) => { for (const i of list) out.add(splitIssuePath(i.path), i.message); };
  const blocks: PartBlocks = { audit: { enabled: true }, telemetry: { enabled: true, intervalMs: 60_000 }, console: readAccessConfig(undefined, dir, out) };

  const tr = raw.trustRoot;
  if (tr) {
    for (const k of Object.keys(tr)) if (k !== 'file') out.add(['trustRoot', k], 'unknown key (expected file)');
    if (typeof tr.file !== 'string' || tr.file === '') out.add(['trustRoot', 'file'], 'must name the provisioned trust root file (root.json or root.cbor)');
    else blocks.trustRootFile = abs(dir, tr.file);
  }
  if (raw.audit) readAuditBlock(raw.audit, blocks.audit, out);
  if (raw.mqtt) {
    const r = parseMqttConfig(raw.mqtt, 'mqtt');
    take(r.issues);
    if (r.config) blocks.mqtt = mqttPaths(r.config, dir);
  }
  const nf = raw.nftables;
  if (nf) {
    const { enabled, ...rest } = nf;
    if (enabled !== undefined && typeof enabled !== 'boolean') out.add(['nftables', 'enabled'], 'must be true or false');
    const r = parseNftablesConfig(rest, 'nftables');
    take(r.issues);
    if (r.config) blocks.nftables = { ...r.config, keepDir: abs(dir, r.config.keepDir), enabled: enabled === true };
  }
  if (raw.telemetry) readTelemetryBlock(raw.telemetry, blocks.telemetry, out);
  if (raw.update) blocks.update = readUpdateBlock(raw.update, out);
  if (raw.console) blocks.console = readAccessConfig(raw.console, dir, out);
  return blocks;
}

// `audit`: enabled, and integer sizes and intervals within their ranges; maxBytes at least two segments.
function readAuditBlock(au: Record<string, unknown>, audit: PartBlocks['audit'], out: IssueList): void {
  const keys: Record<string, [number, number]> = { maxBytes: [64 * 1024, 1024 ** 4], segmentBytes: [4096, 1024 ** 3], flushDelayMs: [0, 60_000], checkpointIntervalMs: [100, 3_600_000] };
  for (const [k, v] of Object.entries(au)) {
    if (k === 'enabled') {
      if (typeof v !== 'boolean') out.add(['audit', k], 'must be true or false');
      else audit.enabled = v;
      continue;
    }
    const range = keys[k];
    if (!range) { out.add(['audit', k], `unknown key (expected enabled, ${Object.keys(keys).join(', ')})`); continue; }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) out.add(['audit', k], `must be an integer within ${range[0]}..${range[1]}`);
    else (audit as unknown as Record<string, number>)[k] = v;
  }
  if (audit.maxBytes !== undefined && audit.maxBytes < 2 * (audit.segmentBytes ?? 4 * 1024 * 1024)) {
    out.add(['audit', 'maxBytes'], 'must be at least twice segmentBytes (default segmentBytes 4 MiB)');
  }
}

// The mqtt block's files resolved against the config's folder; unset keys dropped.
function mqttPaths(config: MqttConfig, dir: string): MqttConfig {
  const c = { ...config };
  c.passwordFile = abs(dir, c.passwordFile);
  c.ca = abs(dir, c.ca);
  c.cert = abs(dir, c.cert);
  c.key = abs(dir, c.key);
  for (const k of Object.keys(c) as (keyof MqttConfig)[]) if (c[k] === undefined) delete c[k];
  return c;
}

function readTelemetryBlock(te: Record<string, unknown>, telemetry: PartBlocks['telemetry'], out: IssueList): void {
  for (const [k, v] of Object.entries(te)) {
    if (k === 'enabled') {
      if (typeof v !== 'boolean') out.add(['telemetry', k], 'must be true or false');
      else telemetry.enabled = v;
    } else if (k === 'intervalMs') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 5_000 || v > 86_400_000) out.add(['telemetry', k], 'must be an integer within 5000..86400000');
      else telemetry.intervalMs = v;
    } else out.add(['telemetry', k], 'unknown key (expected enabled, intervalMs)');
  }
}

function readUpdateBlock(up: Record<string, unknown>, out: IssueList): UpdateConfig {
  const u: UpdateConfig = { healthPeriodMs: 300_000 };
  for (const [k, v] of Object.entries(up)) {
    if (k !== 'healthPeriodMs') { out.add(['update', k], 'unknown key (expected healthPeriodMs)'); continue; }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 100 || v > 86_400_000) out.add(['update', k], 'must be an integer within 100..86400000');
    else u.healthPeriodMs = v;
  }
  return u;
}
