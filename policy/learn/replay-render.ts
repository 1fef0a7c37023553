/** The readable form of a replay report (policy/learn/replay.ts): Markdown, flips grouped. */
import type { ReplayReport } from './replay';

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z'));

/** Markdown for a replay of `policyName` against recorded decisions. */
export function renderReplayMarkdown(r: ReplayReport, policyName: string): string {
  const lines = [`# Replay of ${policyName}`, ''];
  lines.push(`${r.replayed} recorded decision${r.replayed === 1 ? '' : 's'} from ${iso(r.from)} to ${iso(r.to)} re-decided: `
    + `${r.unchanged} unchanged, ${r.breaks} allow→deny (would break), ${r.opens} deny→allow (would open).`);
  const skipped = Object.entries(r.skipped).sort((a, b) => b[1] - a[1]);
  if (skipped.length) lines.push(`Not re-decided: ${skipped.map(([why, n]) => `${n} ${why}`).join(', ')}.`);
  for (const direction of ['allow→deny', 'deny→allow'] as const) {
    const flips = r.flips.filter((f) => f.direction === direction);
    if (flips.length === 0) continue;
    lines.push('', direction === 'allow→deny' ? '## allow→deny: what the new policy would break' : '## deny→allow: what the new policy would open', '');
    for (const f of flips) {
      const reasons = Object.entries(f.reasons).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
      lines.push(`- ${f.count} × ${f.source} → ${f.asset} (conduit ${f.conduit}; ${reasons}), ${iso(f.first)} .. ${iso(f.last)}`);
      for (const e of f.examples) lines.push(`  - ${iso(e.at)} ${e.src} ${e.operation}: was ${e.was}, now ${e.now}`);
    }
  }
  if (r.ungrouped > 0) lines.push('', `${r.ungrouped} more flip(s) beyond the group limit are counted above but not listed.`);
  return lines.join('\n');
}
