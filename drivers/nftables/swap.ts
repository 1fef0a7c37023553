/**
 * The transaction that puts a new ruleset in place of the running table without a gap.
 *
 * Deleting the table and declaring it again in one batch is all-or-nothing, but not seamless.
 * Measured in the netns test (a connect loop across a forwarded conduit while the ruleset is
 * swapped): about one swap in thirty lost a SYN, and the loss followed the sets, not the rules.
 * The kernel registers a new base chain's hook while it prepares the batch, before the new rules
 * are live, and an interval set created in a batch can miss lookups around the commit. Swapping
 * the rules alone, with the sets left alone, lost nothing in thousands of swaps.
 *
 * So the running table is kept and emptied of rules in the same batch instead:
 *   - `flush table` removes every rule (rules are versioned per generation: packets see the old
 *     rules until the commit, then the new ones);
 *   - a named set declared again with the same type and flags is left standing: its declaration
 *     is taken out of the batch and only the elements that differ are deleted or added;
 *   - other named objects of the old table, and sets whose type or flags changed, are deleted
 *     (their rules are gone, so nothing refers to them) and declared again;
 *   - a chain declared again as the same kind stays (emptied by the flush): a base chain whose
 *     type, hook and priority did not change stays registered throughout (one that changed takes
 *     the gap, alone); chains the new table does not declare are deleted.
 * Address sets are compared as intervals, not as text: the kernel merges adjacent elements of
 * an `auto-merge` set (10.0.0.0/25 and 10.0.0.128/25 list as 10.0.0.0/24; two neighbours as
 * a-b), so the listing and a fresh rendering of the same policy spell the same set differently.
 * Pure: text in, text out. It reads tables in `nft list` layout, which render.ts writes too.
 */
import { formatInterval, intervalKey as key, mergeIntervals as merge, parseInterval, sameIntervals, type AddressInterval as Interval } from '../../policy/address-set';

/** Named objects other than chains and sets, as `nft list table` prints them. */
const OBJECT = /^\t(map|flowtable|counter|quota|limit|secmark|synproxy|ct helper|ct timeout|ct expectation) (\S+) \{$/;
const SET = /^\tset (\S+) \{$/;
const CHAIN = /^\tchain (\S+) \{$/;
const HOOK = /^\t\ttype (.+?); policy \w+;$|^\t\ttype (.+?);$/;
const ELEMENTS = /^\t\telements = \{/;

interface SetDecl {
  /** Type, flags and other properties, one per line, trimmed: sets with equal headers can be kept. */
  header: string;
  elements: string[];
  /** Line range of the declaration in its text ([first, last], both inclusive). */
  lines: [number, number];
}

interface Table {
  objects: { kind: string; name: string }[];
  sets: Map<string, SetDecl>;
  /** Chain name → its hook spec (`filter hook forward priority filter`), '' for a regular chain. */
  chains: Map<string, string>;
}

/** Splits `a, b, "c"` (quoted names may hold commas) into its elements. */
function splitElements(body: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of body) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) { out.push(current.trim()); current = ''; continue; }
    current += ch;
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}

function readSet(lines: string[], first: number): SetDecl {
  const header: string[] = [];
  const elements: string[] = [];
  let i = first + 1;
  for (; i < lines.length && lines[i] !== '\t}'; i++) {
    if (!ELEMENTS.test(lines[i])) { header.push(lines[i].trim()); continue; }
    // `elements = { a, b,` continued on following lines (nft wraps long lists) up to `}`.
    let body = lines[i].slice(lines[i].indexOf('{') + 1);
    while (!body.includes('}') && i + 1 < lines.length) body += ` ${lines[++i].trim()}`;
    elements.push(...splitElements(body.slice(0, body.lastIndexOf('}'))));
  }
  return { header: header.filter((l) => l !== '' && !l.startsWith('#')).join('\n'), elements, lines: [first, i] };
}

/** The named objects, sets and chains of a table in `nft list` layout. */
export function tableObjects(text: string): Table {
  const lines = text.split('\n');
  const table: Table = { objects: [], sets: new Map(), chains: new Map() };
  for (let i = 0; i < lines.length; i++) {
    const set = SET.exec(lines[i]);
    if (set) {
      const decl = readSet(lines, i);
      table.sets.set(set[1], decl);
      i = decl.lines[1];
      continue;
    }
    const object = OBJECT.exec(lines[i]);
    if (object) { table.objects.push({ kind: object[1], name: object[2] }); continue; }
    const chain = CHAIN.exec(lines[i]);
    if (!chain) continue;
    const hook = HOOK.exec(lines[i + 1] ?? '');
    table.chains.set(chain[1], hook ? (hook[1] ?? hook[2]) : '');
  }
  return table;
}

/** What the swap does, for tests and logs: sets kept (with their element changes), and the rest. */
export interface SwapPlan {
  script: string;
  kept: { set: string; added: number; removed: number }[];
  recreated: string[];
}

/**
 * The batch that replaces `running` (the table's listing, undefined when it is absent) with
 * `text` (a declaration of the same table). Without a running table it is the declaration.
 */
export function planSwap(table: string, running: string | undefined, text: string): SwapPlan {
  if (running === undefined) return { script: text, kept: [], recreated: [] };
  const old = tableObjects(running);
  const next = tableObjects(text);
  const before = [`flush table inet ${table}`];
  const after: string[] = [];
  const kept: SwapPlan['kept'] = [];
  const recreated: string[] = [];
  const dropLines = new Set<number>();

  for (const [name, decl] of old.sets) {
    const wanted = next.sets.get(name);
    if (wanted === undefined || wanted.header !== decl.header) {
      before.push(`delete set inet ${table} ${name}`);
      if (wanted) recreated.push(name);
      continue;
    }
    const { removed, added } = elementChanges(decl.elements, wanted.elements);
    if (removed.length) before.push(`delete element inet ${table} ${name} { ${removed.join(', ')} }`);
    if (added.length) after.push(`add element inet ${table} ${name} { ${added.join(', ')} }`);
    for (let i = wanted.lines[0]; i <= wanted.lines[1]; i++) dropLines.add(i);
    kept.push({ set: name, added: added.length, removed: removed.length });
  }
  for (const o of old.objects) before.push(`delete ${o.kind} inet ${table} ${o.name}`);
  // A chain the new table declares again as the same kind (regular, or a base chain on the same
  // hook) is kept, emptied by the flush; the others go, regular chains first: a base chain may
  // only go once nothing jumps to it, and nothing does.
  for (const pass of ['regular', 'base'] as const) {
    for (const [name, hook] of old.chains) {
      if ((hook === '') !== (pass === 'regular') || next.chains.get(name) === hook) continue;
      before.push(`delete chain inet ${table} ${name}`);
      if (next.chains.has(name)) recreated.push(`chain ${name}`);
    }
  }
  const declaration = dropLines.size ? text.split('\n').filter((_, i) => !dropLines.has(i)).join('\n') : text;
  const script = [...before, declaration.endsWith('\n') ? declaration.slice(0, -1) : declaration, ...after].join('\n');
  return { script: `${script}\n`, kept, recreated };
}

/**
 * What to delete from and add to a kept set. Address elements are compared as merged intervals:
 * a running interval that the new set holds exactly is left alone, the others are deleted and
 * the new set's other intervals added. Any other element type is compared as text.
 */
export function elementChanges(have: string[], want: string[]): { removed: string[]; added: string[] } {
  const haveI = have.map(parseInterval);
  const wantI = want.map(parseInterval);
  if (haveI.every((i) => i !== undefined) && wantI.every((i) => i !== undefined)) {
    const next = merge(wantI as Interval[]);
    if (sameIntervals(merge(haveI as Interval[]), next)) return { removed: [], added: [] };
    const nextKeys = new Set(next.map(key));
    const kept = new Set<string>();
    const removed: string[] = [];
    have.forEach((text, n) => {
      const k = key(haveI[n]!);
      if (nextKeys.has(k)) kept.add(k); else removed.push(text);
    });
    return { removed, added: next.filter((i) => !kept.has(key(i))).map(formatInterval) };
  }
  const haveSet = new Set(have);
  const wantSet = new Set(want);
  return { removed: have.filter((e) => !wantSet.has(e)), added: want.filter((e) => !haveSet.has(e)) };
}

/** The batch alone (see planSwap). */
export function swapScript(table: string, running: string | undefined, text: string): string {
  return planSwap(table, running, text).script;
}

/** The batch that removes the table; the first line creates it when absent, so the batch never fails on that. */
export function deleteScript(table: string): string {
  return `table inet ${table}\ndelete table inet ${table}\n`;
}
