/**
 * The gateway config (`zonegate run --config FILE`): parsed with positions (policy/source.ts) and
 * validated, every problem reported as `FILE:LINE:COL: path: message` in one
 * ZonegateError('ERR_CONFIG_INVALID'). Paths in it are relative to the config file's folder.
 * The listeners' assets and services are checked against the policy separately
 * (config/resolve-listeners.ts), because the policy is loaded after the config.
 *
 * Shape (extend, never rename):
 *   device, site, stateDir, policyFile, listeners: [{ listen, asset, service, upstream?, port?, serial?, identity?, iec104? }],
 *   log: { level, decisions }, timeouts: { idleMs, connectMs, responseMs, drainMs, frameMs },
 *   limits: { maxConnections, perSourceMax, auditRing },
 *   and the part blocks, each read once into its typed value in `parts` (config/blocks.ts): trustRoot: { file },
 *   audit: { enabled, maxBytes, segmentBytes, flushDelayMs, checkpointIntervalMs }, mqtt: { url, ... },
 *   nftables: { enabled, ... }, console: { ... } (config/access.ts), telemetry: { enabled, intervalMs },
 *   update: { healthPeriodMs }.
 */
import { promises as fs } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ZonegateError } from '../policy/errors';
import type { Protocol } from '../policy/types';
import { parseSource, type SourcePath, type SourcePosition } from '../policy/source';
import { IssueList, checkId, checkInt, get, has, readList, readObject, readString, type Path } from '../policy/check';
import { parseHostPort, formatHostPort, type HostPort } from '../protocol/host-port';
import { parsePartBlocks, type PartBlocks } from './config/blocks';
import { readSerial, type SerialConfig } from './config/serial';
import { readIec104Link } from './config/iec104';
import type { Iec104Link } from '../drivers/iec104/window';

export type { HostPort } from '../protocol/host-port';
export { formatHostPort } from '../protocol/host-port';
export type { SerialConfig } from './config/serial';

/** modbus-rtu-gateway: Modbus/TCP clients onto an RTU serial line; modbus-rtu: RTU masters on a serial line onto a Modbus/TCP upstream. */
export type BuiltinService = 'modbus' | 'tcp' | 'dnp3' | 'iec104' | 'modbus-rtu-gateway' | 'modbus-rtu';
/** A built-in service, or one a driver registered with the daemon (runtime/listeners/registry.ts). */
export type ListenerService = BuiltinService | (string & Record<never, never>);
/** The built-in services and the policy protocol each serves (the RTU services are Modbus to the policy). */
export const BUILTIN_SERVICES: Readonly<Record<BuiltinService, Protocol>> = Object.freeze({
  'modbus': 'modbus', 'tcp': 'tcp', 'dnp3': 'dnp3', 'iec104': 'iec104', 'modbus-rtu-gateway': 'modbus', 'modbus-rtu': 'modbus',
});

/** What a config is read against: the services the daemon can run, with their policy protocols (default the built-in ones). */
export interface ConfigOptions {
  services?: Readonly<Record<string, Protocol>>;
}
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One listener as written (the asset and service are checked against the policy later). */
export interface ListenerConfig {
  listen: HostPort;
  asset: string;
  service: ListenerService;
  /** The policy protocol the service serves (set when the service is not a built-in one). */
  protocol?: Protocol;
  /** Where the asset really is; default the asset's policy address and the service port. */
  upstream?: HostPort;
  /** The asset service's port, when the asset has several services of this protocol. */
  port?: number;
  /** The RTU line (modbus-rtu-gateway, modbus-rtu). */
  serial?: SerialConfig;
  /** modbus-rtu: the policy identity of the master(s) on the line (a serial line has no address). */
  identity?: string;
  /** iec104: the APCI k, w and t1/t2/t3 of both sides of each link, when written (defaults filled in; config/iec104.ts). */
  iec104?: Iec104Link;
  /** Position in `listeners`, for messages. */
  index: number;
}

/** Placeholder `listen` of a modbus-rtu listener: it listens on its serial device, not on the network. */
export const SERIAL_LISTEN: Readonly<HostPort> = Object.freeze({ host: 'serial', port: 0 });

/** The policy protocol a listener serves (the RTU services are Modbus to the policy). */
export function policyProtocol(service: ListenerService): Protocol {
  return (BUILTIN_SERVICES as Readonly<Record<string, Protocol>>)[service] ?? (service as Protocol);
}

/** The policy protocol of a listener: its registered service's, else the built-in one's. */
export function listenerProtocol(l: { service: ListenerService; protocol?: Protocol }): Protocol {
  return l.protocol ?? policyProtocol(l.service);
}

/** How a listener's own end is shown: `host:port`, or `serial:DEVICE` for modbus-rtu. */
export function listenLabel(l: { service: ListenerService; listen: HostPort; serial?: SerialConfig }): string {
  return l.service === 'modbus-rtu' && l.serial ? `serial:${l.serial.device}` : formatHostPort(l.listen);
}

export interface GatewayConfig {
  /** The config file as given (messages name it so) and its folder (absolute). */
  file: string;
  dir: string;
  device: string;
  site: string;
  /** Absolute. */
  stateDir: string;
  /** Absolute; an unsigned policy file, for labs and tests only. */
  policyFile?: string;
  listeners: ListenerConfig[];
  log: { level: LogLevel; decisions: 'stdout' | 'none' };
  /** frameMs: a Modbus request frame (a DNP3 link frame and fragment) must be complete within this long after its first byte (slowloris). */
  timeouts: { idleMs: number; connectMs: number; responseMs: number; drainMs: number; frameMs: number };
  limits: { maxConnections: number; perSourceMax: number; auditRing: number };
  /** The part blocks (trustRoot, audit, mqtt, nftables, console, telemetry, update), read into typed values (config/blocks.ts); paths absolute. */
  parts: PartBlocks;
  /** Where a config path was written, for errors found later (listeners against the policy). */
  locate(path: SourcePath): SourcePosition | undefined;
}

const TOP_KEYS = ['device', 'site', 'stateDir', 'policyFile', 'listeners', 'log', 'timeouts', 'limits'] as const;
/** The part blocks: mappings, each read by its own parser in config/blocks.ts. */
export const PART_BLOCKS = ['mqtt', 'audit', 'console', 'nftables', 'trustRoot', 'telemetry', 'update'] as const;
const LISTENER_KEYS = ['listen', 'asset', 'service', 'upstream', 'port', 'serial', 'identity', 'iec104'];
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export const DEFAULT_TIMEOUTS: Readonly<GatewayConfig['timeouts']> = Object.freeze({ idleMs: 600_000, connectMs: 5_000, responseMs: 5_000, drainMs: 5_000, frameMs: 5_000 });
export const DEFAULT_LIMITS: Readonly<GatewayConfig['limits']> = Object.freeze({ maxConnections: 1024, perSourceMax: 64, auditRing: 10_000 });
/** Config files are small; anything bigger is refused before it is read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function readEnum<T extends string>(rec: Record<string, unknown>, key: string, path: Path, allowed: readonly T[], out: IssueList): T | undefined {
  const v = readString(rec, key, path, out);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    out.add([...path, key], `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v as T;
}

function readInts<T extends Record<string, number>>(v: unknown, path: Path, defaults: T, max: number, out: IssueList): T {
  const res = { ...defaults };
  if (v === undefined) return res;
  const rec = readObject(v, path, Object.keys(defaults), out);
  if (!rec) return res;
  for (const key of Object.keys(defaults)) {
    if (!has(rec, key)) continue;
    const n = checkInt(rec[key], [...path, key], out, { min: 0, max, name: key.endsWith('Ms') ? 'a duration in milliseconds' : 'a count' });
    if (n !== undefined) (res as Record<string, number>)[key] = n;
  }
  return res;
}

function readListener(v: unknown, i: number, out: IssueList, services: Readonly<Record<string, Protocol>>): ListenerConfig | undefined {
  const path = ['listeners', i];
  const rec = readObject(v, path, LISTENER_KEYS, out);
  if (!rec) return undefined;
  const before = out.count;
  // modbus-rtu listens on its serial device: no network address.
  const rtuMaster = get(rec, 'service') === 'modbus-rtu';
  if (rtuMaster && has(rec, 'listen')) out.add([...path, 'listen'], "a modbus-rtu listener listens on its serial device (serial.device), not on an address: remove 'listen'");
  const listenText = rtuMaster ? undefined : readString(rec, 'listen', path, out, { required: true });
  const asset = readString(rec, 'asset', path, out, { required: true });
  if (asset !== undefined) checkId(asset, [...path, 'asset'], out);
  const service = readEnum<ListenerService>(rec, 'service', path, Object.keys(services), out);
  if (!has(rec, 'service')) out.add([...path, 'service'], "required field 'service' is missing (modbus, dnp3, iec104, tcp, modbus-rtu-gateway or modbus-rtu)");
  const serialService = service === 'modbus-rtu-gateway' || rtuMaster;
  let serial: SerialConfig | undefined;
  if (has(rec, 'serial') && !serialService && service !== undefined) out.add([...path, 'serial'], `only modbus-rtu-gateway and modbus-rtu listeners have a serial line, not ${service}`);
  else if (serialService && !has(rec, 'serial')) out.add([...path, 'serial'], `required field 'serial' is missing (a ${service} listener needs { device, baud, parity, stopBits })`);
  else if (serialService) serial = readSerial(get(rec, 'serial'), [...path, 'serial'], out);
  const identity = readString(rec, 'identity', path, out, { required: rtuMaster });
  if (identity !== undefined && !rtuMaster && service !== undefined) out.add([...path, 'identity'], `only a modbus-rtu listener names the identity of its masters (a ${service} listener's clients are known by address)`);
  else if (identity !== undefined) checkId(identity, [...path, 'identity'], out);
  let iec104: Iec104Link | undefined;
  if (has(rec, 'iec104') && service !== 'iec104' && service !== undefined) out.add([...path, 'iec104'], `only iec104 listeners have IEC 104 link settings (k, w, t1Ms, t2Ms, t3Ms), not ${service}`);
  else if (has(rec, 'iec104')) iec104 = readIec104Link(get(rec, 'iec104'), [...path, 'iec104'], out);
  if (service === 'modbus-rtu-gateway' && has(rec, 'upstream')) out.add([...path, 'upstream'], "a modbus-rtu-gateway's upstream is its serial line (serial.device): remove 'upstream'");
  let listen: HostPort | undefined;
  if (listenText !== undefined) {
    const hp = parseHostPort(listenText, { allowName: false, allowZero: true });
    if ('error' in hp) out.add([...path, 'listen'], hp.error); else listen = hp;
  }
  let upstream: HostPort | undefined;
  const upText = readString(rec, 'upstream', path, out);
  if (upText !== undefined) {
    const hp = parseHostPort(upText, { allowName: true, allowZero: false });
    if ('error' in hp) out.add([...path, 'upstream'], hp.error); else upstream = hp;
  }
  const port = has(rec, 'port') ? checkInt(get(rec, 'port'), [...path, 'port'], out, { min: 1, max: 65535, name: 'a port' }) : undefined;
  if (rtuMaster) listen = { ...SERIAL_LISTEN };
  if (out.count > before || !listen || !asset || !service) return undefined;
  return {
    listen, asset, service, index: i, ...(service in BUILTIN_SERVICES ? {} : { protocol: services[service] }), ...(upstream ? { upstream } : {}), ...(port !== undefined ? { port } : {}),
    ...(serial ? { serial } : {}), ...(identity !== undefined ? { identity } : {}), ...(iec104 ? { iec104 } : {}),
  };
}

/**
 * Validates a config text. `file` names it in messages and anchors relative paths. Throws
 * ZonegateError('ERR_CONFIG_INVALID') with every issue (file, line, col, path, message).
 */
export function parseConfig(text: string, opts: { file: string } & ConfigOptions): GatewayConfig {
  const file = opts.file;
  const dir = dirname(resolve(file));
  let src: ReturnType<typeof parseSource>;
  try {
    src = parseSource(text, { file: opts.file, format: 'yaml' });
  } catch (e) {
    const issues = (e as ZonegateError).issues ?? [{ path: '', file: opts.file, message: (e as Error).message }];
    throw new ZonegateError('ERR_CONFIG_INVALID', `invalid gateway config ${opts.file}`, { cause: e, issues });
  }
  const out = new IssueList({ file: opts.file, locate: src.locate });
  const root = readObject(src.value ?? undefined, [], [...TOP_KEYS, ...PART_BLOCKS], out, 'a mapping of gateway settings');
  const fail = () => new ZonegateError('ERR_CONFIG_INVALID',
    `invalid gateway config ${opts.file}: ${out.count} problem${out.count === 1 ? '' : 's'}`, { issues: out.issues });
  if (!root) throw fail();

  const device = readString(root, 'device', [], out, { required: true });
  if (device !== undefined) checkId(device, ['device'], out);
  const site = readString(root, 'site', [], out, { required: true });
  if (site !== undefined) checkId(site, ['site'], out);
  const stateDir = readString(root, 'stateDir', [], out, { required: true });
  const policyFile = readString(root, 'policyFile', [], out);

  const listeners = readListeners(root, out, opts.services ?? BUILTIN_SERVICES);
  const log = readLog(root, out);
  const timeouts = readInts(get(root, 'timeouts'), ['timeouts'], { ...DEFAULT_TIMEOUTS }, 86_400_000, out);
  if (timeouts.frameMs === 0 && has(root, 'timeouts') && has(get(root, 'timeouts') as Record<string, unknown>, 'frameMs')) out.add(['timeouts', 'frameMs'], 'must be at least 1');
  const limits = readInts(get(root, 'limits'), ['limits'], { ...DEFAULT_LIMITS }, 1_000_000, out);
  if (has(root, 'limits')) {
    for (const key of ['maxConnections', 'perSourceMax', 'auditRing'] as const) {
      const rec = get(root, 'limits') as Record<string, unknown>;
      if (limits[key] === 0 && has(rec, key)) out.add(['limits', key], 'must be at least 1');
    }
  }
  const parts = parsePartBlocks(readBlockMappings(root, out), dir, out);

  if (out.count > 0) throw fail();
  return {
    file, dir, device: device!, site: site!, stateDir: resolve(dir, stateDir!),
    ...(policyFile !== undefined ? { policyFile: resolve(dir, policyFile) } : {}),
    listeners, log, timeouts, limits, parts, locate: src.locate,
  };
}

// `listeners`: required, at least one; one listener per serial line, no listen address twice (port 0 aside).
function readListeners(root: Record<string, unknown>, out: IssueList, services: Readonly<Record<string, Protocol>>): ListenerConfig[] {
  const listeners: ListenerConfig[] = [];
  if (!has(root, 'listeners')) {
    out.add(['listeners'], "required field 'listeners' is missing (a list of { listen, asset, service })");
    return listeners;
  }
  const list = readList(get(root, 'listeners'), ['listeners'], out);
  if (list && list.items.length === 0) out.add(['listeners'], 'must list at least one listener');
  const seen = new Map<string, number>();
  list?.items.forEach((item, i) => {
    const l = readListener(item, i, out, services);
    if (!l) return;
    if (l.serial) { // one listener per serial line
      const dev = `serial:${l.serial.device}`;
      if (seen.has(dev)) { out.add(['listeners', i, 'serial', 'device'], `serial device ${l.serial.device} is already used by listeners[${seen.get(dev)}]`); return; }
      seen.set(dev, i);
      if (l.service === 'modbus-rtu') { listeners.push(l); return; }
    }
    // Port 0 (a free port, labs and tests) never collides.
    const key = formatHostPort(l.listen);
    if (l.listen.port !== 0 && seen.has(key)) {
      out.add(['listeners', i, 'listen'], `duplicate listen address ${key} (also listeners[${seen.get(key)}])`);
      return;
    }
    seen.set(key, i);
    listeners.push(l);
  });
  return listeners;
}

function readLog(root: Record<string, unknown>, out: IssueList): GatewayConfig['log'] {
  const log: GatewayConfig['log'] = { level: 'info', decisions: 'stdout' };
  if (!has(root, 'log')) return log;
  const rec = readObject(get(root, 'log'), ['log'], ['level', 'decisions'], out);
  if (!rec) return log;
  return {
    level: readEnum(rec, 'level', ['log'], LOG_LEVELS, out) ?? 'info',
    decisions: readEnum(rec, 'decisions', ['log'], ['stdout', 'none'] as const, out) ?? 'stdout',
  };
}

// The part blocks (mqtt, audit, console, ...) that are mappings, by name, for parsePartBlocks; kept by nothing after it.
function readBlockMappings(root: Record<string, unknown>, out: IssueList): Record<string, Record<string, unknown>> {
  const blocks: Record<string, Record<string, unknown>> = Object.create(null);
  for (const key of PART_BLOCKS) {
    if (!has(root, key)) continue;
    const v = get(root, key);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) out.add([key], `must be a mapping (reserved for the ${key} settings)`);
    else blocks[key] = v as Record<string, unknown>;
  }
  return blocks;
}

/** Reads (1 MiB at most) and validates a config file; a missing or unreadable file is ERR_CONFIG_INVALID too. */
export async function loadConfig(path: string, opts: ConfigOptions = {}): Promise<GatewayConfig> {
  let text: string;
  try {
    const st = await fs.stat(path);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
    if (st.size > MAX_CONFIG_BYTES) throw Object.assign(new Error(`${st.size} bytes is more than the ${MAX_CONFIG_BYTES}-byte limit`), { code: 'E2BIG' });
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new ZonegateError('ERR_CONFIG_INVALID', `cannot read gateway config ${path}: ${why}`, { cause: e, issues: [{ path: '', file: path, message: why }] });
  }
  return parseConfig(text, { file: path, ...opts });
}
