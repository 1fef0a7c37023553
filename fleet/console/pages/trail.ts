/** The admins' page of the console's own audit trail (trail.ts): newest first, and whether the chain verifies. */
import type { TrailCheck } from '../trail';
import { escapeHtml } from '../../../protocol/web/http';
import { table } from './layout';

const SHOWN = 500;

export function trailBody(t: TrailCheck, file: string): string {
  const state = t.problem
    ? `<span class="bad">does not verify</span> at line ${t.problem.line}: ${escapeHtml(t.problem.message)} (entries before it are shown)`
    : `<span class="ok">verifies</span>, ${t.entries.length} entr${t.entries.length === 1 ? 'y' : 'ies'}`;
  const rows = t.entries.slice(-SHOWN).reverse().map((e) => ({ cells: [String(e.seq), new Date(e.at).toISOString(), e.text] }));
  return `<p id="trail-state">Chain: ${state}. File: ${escapeHtml(file)}${t.entries.length > SHOWN ? `; the newest ${SHOWN} shown` : ''}.</p>
${table(['Seq', 'Time', 'What'], rows, 'trail')}`;
}
