/**
 * The Markdown form of a policy diff (policy/diff.ts): a heading with the counts, then one line
 * per change grouped by area, each saying what changed and which requests it affects.
 */
import type { ChangeArea, PolicyDiff } from './diff';

const AREA_TITLE: Record<ChangeArea, string> = {
  site: 'Site', zone: 'Zones', asset: 'Assets', identity: 'Identities', conduit: 'Conduits',
  quarantine: 'Quarantine', settings: 'Settings', tests: 'Embedded tests',
};
const ORDER: ChangeArea[] = ['site', 'conduit', 'identity', 'zone', 'asset', 'quarantine', 'settings', 'tests'];

/** Markdown for a diff between `oldName` and `newName`. */
export function renderDiffMarkdown(diff: PolicyDiff, oldName: string, newName: string): string {
  const c = diff.counts;
  const total = diff.changes.length;
  const lines = [`# Policy diff: ${oldName} → ${newName}`, ''];
  if (total === 0) {
    lines.push(`No semantic change (site ${diff.site.new}): every request is decided the same way.`);
    return lines.join('\n');
  }
  lines.push(`Site ${diff.site.new}: ${total} change${total === 1 ? '' : 's'} (${c.widens} widen, ${c.narrows} narrow, ${c.changes} other).`);
  for (const area of ORDER) {
    const items = diff.changes.filter((x) => x.area === area);
    if (items.length === 0) continue;
    lines.push('', `## ${AREA_TITLE[area]}`, '');
    for (const x of items) {
      const subject = x.id ? `\`${x.id}\` ${x.what}` : x.what;
      lines.push(`- **${x.effect}** ${subject}: ${x.detail}. Affects: ${x.affects}.`);
    }
  }
  return lines.join('\n');
}
