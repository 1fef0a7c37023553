/**
 * The fleet console's fleet page (issue 19: "the fleet page with 10,000 simulated gateways
 * rendered under 1 s"): fleetBody + page() for 100, 1,000 and 10,000 status documents, each with
 * a 30-point CPU sparkline, beside a plain JSON.stringify of the same documents in the same run
 * (the least work any page of that data could do). Median of 5 renders after one warm-up; bytes
 * of the HTML beside the JSON's. CPU per render (user + sys) beside wall time.
 * Run: node build/run-bench.mjs console
 */
import type { StatusDocument } from '../../protocol/mqtt/status';
import { fleetBody } from '../../fleet/console/pages/fleet';
import { page } from '../../fleet/console/pages/layout';
import { printTable, type BenchRow } from './report';

function docs(n: number): StatusDocument[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    schema: 1, device: `gw-${String(i).padStart(5, '0')}`, site: `site-${i % 20}`, online: i % 17 !== 0, policyVersion: 40 + (i % 3),
    policyHash: 'ab'.repeat(32), policyExpiresAt: now + (i % 50) * 86_400_000, applied: {}, lastError: i % 97 === 0 ? { code: 'ERR_BUNDLE_EXPIRED', message: 'expired', at: now } : null,
    uptimeSeconds: 1000 + i, alarms: i % 41 === 0 ? ['policy-expired'] : [], runtimeVersion: '0.9.0', lastSeen: now - (i % 600) * 1000,
  } as StatusDocument));
}

function median(fn: () => number): { ms: number; cpuMs: number } {
  fn();
  const ms: number[] = [], cpu: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0); cpu.push((c.user + c.system) / 1000);
  }
  ms.sort((a, b) => a - b); cpu.sort((a, b) => a - b);
  return { ms: ms[2], cpuMs: cpu[2] };
}

const rows: BenchRow[] = [];
const notes: string[] = [];
const cpu = Array.from({ length: 30 }, (_, i) => (i * 37) % 100);
for (const n of [100, 1_000, 10_000]) {
  const gws = docs(n);
  const sites = [...new Set(gws.map((g) => g.site))].sort();
  let htmlBytes = 0, jsonBytes = 0;
  const html = median(() => {
    const s = page({ title: 'Fleet', viewer: { user: 'bench', role: 'viewer', csrf: 'x' }, live: true, body: fleetBody({ gateways: gws, cpu: () => cpu, now: Date.now(), sites }) });
    htmlBytes = Buffer.byteLength(s); return s.length;
  });
  const json = median(() => { const s = JSON.stringify(gws); jsonBytes = Buffer.byteLength(s); return s.length; });
  rows.push({ what: `fleet page, ${n.toLocaleString('en-US')} gateways (median)`, value: html.ms, unit: 'ms', peer: 'JSON.stringify of the same', peerValue: json.ms, better: 'lower', goal: n === 10_000 ? '< 1,000 ms' : undefined });
  rows.push({ what: `  CPU per render, ${n.toLocaleString('en-US')}`, value: html.cpuMs, unit: 'ms', peer: 'JSON.stringify', peerValue: json.cpuMs, better: 'lower' });
  rows.push({ what: `  bytes, ${n.toLocaleString('en-US')}`, value: htmlBytes / 1024, unit: 'KiB', peer: 'JSON', peerValue: jsonBytes / 1024 });
  if (n === 10_000 && html.ms >= 1000) notes.push(`MISSED: 10,000 gateways took ${html.ms.toFixed(0)} ms`);
}
printTable('Fleet console: fleet page render', rows, notes);
