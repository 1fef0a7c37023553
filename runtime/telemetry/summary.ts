/** The short telemetry line of `zonegate status` and the status file. */
import type { TelemetrySample } from './sample';

export interface TelemetrySummary {
  at: number;
  cpuLoadPercent: number | null;
  /** null: no temperature sensor here. */
  temperatureC: number | null;
  memoryUsedPercent: number | null;
  diskUsedPercent: number | null;
  diskAvailableBytes: number | null;
  diskMount: string | null;
  interfaces: { name: string; up: boolean; rxBytes: number | null; txBytes: number | null; errors: number }[];
  uptimeSeconds: number | null;
  unavailable: string[];
}

/** Condenses a sample: percentages, the state disk, each non-internal interface's link and counters. */
export function summariseTelemetry(s: TelemetrySample): TelemetrySummary {
  return {
    at: s.at,
    cpuLoadPercent: s.cpu?.loadPercent ?? null,
    temperatureC: s.temperature.celsius,
    memoryUsedPercent: s.memory?.usedPercent ?? null,
    diskUsedPercent: s.disk?.usedPercent ?? null,
    diskAvailableBytes: s.disk?.availableBytes ?? null,
    diskMount: s.disk?.mount ?? null,
    interfaces: s.interfaces.filter((i) => !i.internal).map((i) => ({
      name: i.name, up: i.up, rxBytes: i.rxBytes, txBytes: i.txBytes,
      errors: (i.rxErrors ?? 0) + (i.txErrors ?? 0) + (i.rxDropped ?? 0) + (i.txDropped ?? 0),
    })),
    uptimeSeconds: s.uptimeSeconds,
    unavailable: [...s.unavailable],
  };
}

/** Bytes for people: 1.5 GiB, 320 MiB, 12 KiB. */
export function formatBytes(n: number | null): string {
  if (n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** One line: `cpu 12.5% · temp n/a · mem 31.0% · disk / 22.0% (79.2 GiB free) · eth0 up`. */
export function formatTelemetryLine(t: TelemetrySummary): string {
  return [
    `cpu ${t.cpuLoadPercent === null ? 'n/a' : `${t.cpuLoadPercent}%`}`,
    `temp ${t.temperatureC === null ? 'n/a (no sensor)' : `${t.temperatureC} °C`}`,
    `mem ${t.memoryUsedPercent === null ? 'n/a' : `${t.memoryUsedPercent}%`}`,
    `disk ${t.diskMount ?? '?'} ${t.diskUsedPercent === null ? 'n/a' : `${t.diskUsedPercent}% (${formatBytes(t.diskAvailableBytes)} free)`}`,
    ...t.interfaces.map((i) => `${i.name} ${i.up ? 'up' : 'DOWN'}${i.errors ? ` (${i.errors} errors/drops)` : ''}`),
  ].join(' · ');
}
