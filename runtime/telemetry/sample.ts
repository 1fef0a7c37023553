/**
 * One telemetry sample of the gateway's host with systeminformation: CPU load and temperature,
 * memory, the disk that holds the state folder, network interfaces with link state and counters,
 * uptime. Every probe is bounded by a timeout and may fail on its own: a failed or unavailable
 * probe gives null and a note in `unavailable`, never an exception (a VM has no temperature
 * sensor; a container may hide interfaces).
 */
import { realpath } from 'node:fs/promises';

export const TELEMETRY_SCHEMA = 1;

export interface InterfaceSample {
  name: string;
  /** Link up (operstate `up`); `unknown` counts as up for loopback-like links. */
  up: boolean;
  operstate: string;
  /** Mbit/s when the driver reports it. */
  speed: number | null;
  internal: boolean;
  rxBytes: number | null;
  txBytes: number | null;
  rxErrors: number | null;
  txErrors: number | null;
  rxDropped: number | null;
  txDropped: number | null;
}

export interface TelemetrySample {
  schema: number;
  /** Epoch ms of the sample. */
  at: number;
  cpu: { loadPercent: number; loadAverage1m: number | null; cores: number } | null;
  /** Celsius of the hottest sensor; null when there is none (virtual machines usually have none). */
  temperature: { celsius: number | null; sensors: number };
  memory: { totalBytes: number; usedBytes: number; availableBytes: number; usedPercent: number } | null;
  /** The file system holding the state folder. */
  disk: { path: string; mount: string; fs: string; sizeBytes: number; usedBytes: number; availableBytes: number; usedPercent: number } | null;
  interfaces: InterfaceSample[];
  uptimeSeconds: number | null;
  process: { rssBytes: number; heapUsedBytes: number; uptimeSeconds: number };
  /** What could not be measured here, and why. */
  unavailable: string[];
}

/** The part of systeminformation used here (tests and other hosts may pass another). */
export interface SystemInfo {
  currentLoad(): Promise<{ currentLoad: number; avgLoad?: number; cpus?: unknown[] }>;
  cpuTemperature(): Promise<{ main: number | null; max: number | null; cores?: number[] }>;
  mem(): Promise<{ total: number; available: number; active?: number; used: number }>;
  fsSize(): Promise<{ fs: string; mount: string; size: number; used: number; available: number }[]>;
  networkInterfaces(): Promise<unknown>;
  networkStats(ifaces?: string): Promise<{ iface: string; operstate: string; rx_bytes: number; tx_bytes: number; rx_errors: number; tx_errors: number; rx_dropped: number; tx_dropped: number }[]>;
  time(): { uptime: number | string };
}

export interface SampleOptions {
  /** The state folder whose disk is reported. */
  stateDir: string;
  si?: SystemInfo;
  now?: () => number;
  /** Longest wait for any one probe, ms. Default 5,000. */
  timeoutMs?: number;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let h: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(h)),
    new Promise<T>((_, reject) => { h = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); }),
  ]);
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const pct = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 1000) / 10 : 0);

/** Takes one sample; never rejects. */
export async function sampleTelemetry(o: SampleOptions): Promise<TelemetrySample> {
  // Loaded on the first sample, not at start: it is ~10 MiB of resident memory a gateway without
  // telemetry never needs.
  const sys = o.si ?? (require('systeminformation') as SystemInfo);
  const now = o.now ?? Date.now;
  const ms = o.timeoutMs ?? 5000;
  const unavailable: string[] = [];
  const probe = async <T>(what: string, f: () => Promise<T>): Promise<T | null> => {
    try { return await within(f(), ms, what); } catch (e) { unavailable.push(`${what}: ${(e as Error).message}`); return null; }
  };
  const [load, temp, mem, fss, ifaces, stats, path] = await Promise.all([
    probe('cpu load', () => sys.currentLoad()),
    probe('temperature', () => sys.cpuTemperature()),
    probe('memory', () => sys.mem()),
    probe('disk', () => sys.fsSize()),
    probe('interfaces', () => sys.networkInterfaces()),
    probe('interface counters', () => sys.networkStats('*')),
    realpath(o.stateDir).catch(() => o.stateDir),
  ]);

  const cpu = load && num(load.currentLoad) !== null
    ? { loadPercent: Math.round((load.currentLoad as number) * 10) / 10, loadAverage1m: num(load.avgLoad), cores: Array.isArray(load.cpus) ? load.cpus.length : 0 }
    : null;
  const readings = temp ? [temp.main, temp.max, ...(temp.cores ?? [])].filter((x): x is number => typeof x === 'number' && Number.isFinite(x) && x > -50) : [];
  if (temp && readings.length === 0) unavailable.push('temperature: no sensor reported (typical of a virtual machine)');
  const memory = mem && mem.total > 0
    ? { totalBytes: mem.total, usedBytes: mem.total - mem.available, availableBytes: mem.available, usedPercent: pct(mem.total - mem.available, mem.total) }
    : null;

  // The mount holding the state folder: the longest mount point that is a prefix of its real path.
  let disk: TelemetrySample['disk'] = null;
  if (fss) {
    const holder = fss
      .filter((f) => typeof f.mount === 'string' && (path === f.mount || path.startsWith(f.mount.endsWith('/') ? f.mount : `${f.mount}/`)))
      .sort((a, b) => b.mount.length - a.mount.length)[0];
    if (holder) disk = { path, mount: holder.mount, fs: holder.fs, sizeBytes: holder.size, usedBytes: holder.used, availableBytes: holder.available, usedPercent: pct(holder.used, holder.used + holder.available) };
    else unavailable.push(`disk: no mounted file system holds ${path}`);
  }

  const byName = new Map((stats ?? []).map((s) => [s.iface, s]));
  const list = Array.isArray(ifaces) ? ifaces : ifaces ? [ifaces] : [];
  const interfaces: InterfaceSample[] = list.map((raw) => {
    const i = raw as { iface: string; operstate?: string; speed?: number | null; internal?: boolean };
    const s = byName.get(i.iface);
    const operstate = String(s?.operstate ?? i.operstate ?? 'unknown');
    return {
      name: i.iface, up: operstate === 'up' || (operstate === 'unknown' && i.internal === true), operstate,
      speed: num(i.speed) !== null && (i.speed as number) > 0 ? (i.speed as number) : null, internal: i.internal === true,
      rxBytes: num(s?.rx_bytes), txBytes: num(s?.tx_bytes), rxErrors: num(s?.rx_errors), txErrors: num(s?.tx_errors),
      rxDropped: num(s?.rx_dropped), txDropped: num(s?.tx_dropped),
    };
  });

  let uptimeSeconds: number | null = null;
  try { uptimeSeconds = num(Number(sys.time().uptime)); } catch (e) { unavailable.push(`uptime: ${(e as Error).message}`); }
  const mu = process.memoryUsage();
  return {
    schema: TELEMETRY_SCHEMA, at: now(), cpu,
    temperature: { celsius: readings.length ? Math.max(...readings) : null, sensors: readings.length },
    memory, disk, interfaces, uptimeSeconds,
    process: { rssBytes: mu.rss, heapUsedBytes: mu.heapUsed, uptimeSeconds: Math.round(process.uptime()) },
    unavailable,
  };
}
