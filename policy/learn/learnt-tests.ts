/**
 * What a learnt policy's tests and conduit comments are made from, held compactly until the text
 * is written (policy learn at a 10,000-conduit site: tens of thousands of tests and comments).
 *
 * Tests: per learnt group (one source × asset × protocol), its source, asset, first sight and per
 * block the request part of its allow test from real traffic and of its boundary deny probes,
 * held as one JSON text (when it reads back exactly): a few hundred bytes a group instead of a
 * dozen small objects per block. The tests are made from it one at a time (LearntTests.tests).
 *
 * Comments: per conduit the numbers its comment says (requests, first and last seen), the text
 * made when the line is written.
 */
import type { PolicyTest } from '../types';
import type { LearntBlock } from './observed';

/** What a learnt group saw: the numbers of its conduits' comments and the facts of its tests. */
export interface Seen {
  src: string;
  asset: string;
  count: number;
  denied: number;
  first: number;
  last: number;
}

/** One block's tests: the request part of its allow test (null: none) and of its deny probes. */
type BlockTests = [example: Record<string, unknown> | null, probes: Record<string, unknown>[]];

type GroupTests = [src: string, asset: string, first: number, blocks: BlockTests[]];

/**
 * The JSON text of a group's tests when it reads back as the same values (finite numbers, not -0,
 * plain objects and arrays, no undefined field), else undefined.
 */
function jsonOf(g: GroupTests): string | undefined {
  let exact = true;
  const text = JSON.stringify(g, (_k, v: unknown) => {
    if (v === undefined || (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)))) exact = false;
    else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype) exact = false;
    return v;
  });
  return exact ? text : undefined;
}

/** The test sources of every learnt group, in order: each its JSON text (or, rarely, itself). */
export class LearntTests {
  private readonly groups: (string | GroupTests)[] = [];

  /** The tests of one group's blocks: an allow from real traffic per block, and its boundary denies. */
  add(blocks: readonly LearntBlock[], seen: Seen): void {
    const parts: BlockTests[] = blocks.map((b) => {
      const allowTest = Object.keys(b.example).length > 0 || b.fields.ports !== undefined || b.fields.allow === undefined;
      const example = !allowTest ? null : b.example.port !== undefined ? { protocol: 'tcp', port: b.example.port } : b.example;
      return [example, b.probes];
    });
    const g: GroupTests = [seen.src, seen.asset, seen.first, parts];
    this.groups.push(jsonOf(g) ?? g);
  }

  /**
   * Every group's tests in the order added, made one at a time. `release`: each group's source is
   * let go once its tests are made (read once: policy learn writes them as they come, and held
   * whole they were 13 MiB of a 10,000-conduit learn's peak); otherwise each call starts over.
   */
  *tests(release = false): Generator<PolicyTest, void, void> {
    const groups = this.groups as (string | GroupTests | undefined)[];
    for (let i = 0; i < groups.length; i++) {
      const held = groups[i];
      if (held === undefined) throw new TypeError('LearntTests: tests read after they were released');
      if (release) groups[i] = undefined;
      const [src, to, at, parts] = typeof held === 'string' ? JSON.parse(held) as GroupTests : held;
      const from = { ip: src };
      for (const [example, probes] of parts) {
        if (example !== null) yield { request: { from, to, ...example, at } as PolicyTest['request'], expect: 'allow' };
        for (const p of probes) yield { request: { from, to, ...p, at } as PolicyTest['request'], expect: 'deny' };
      }
    }
  }
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/** `1,234 requests from 10.0.0.1, first …, last …`. */
function describe(s: Seen): string {
  return `${s.count.toLocaleString('en-US')} request${s.count === 1 ? '' : 's'} from ${s.src}, first ${iso(s.first)}, last ${iso(s.last)}${s.denied ? ` (${s.denied} denied then)` : ''}`;
}

/** What one conduit's comment says: no traffic, a narrowed base conduit, or a learnt block of a group. */
type CommentSource = { seen: Seen; narrowed?: boolean; block?: number } | null;

/** Comment lines per conduit id, made as they are read (EmitComments.conduit). */
export class ConduitComments {
  private readonly m = new Map<string, CommentSource>();

  /** A base conduit no traffic went through. */
  unused(id: string): void { this.m.set(id, null); }

  /** A base conduit that allowed traffic: `changed` when it was narrowed. */
  base(id: string, seen: Seen, changed: boolean): void { this.m.set(id, { seen, narrowed: changed }); }

  /** A learnt conduit: `blockCount` of the group's requests fell in it. */
  learnt(id: string, seen: Seen, blockCount: number): void { this.m.set(id, blockCount === seen.count ? { seen } : { seen, block: blockCount }); }

  /** Lets go of every conduit's comment source (policy learn, once the conduits are written). */
  release(): void { this.m.clear(); }

  get(id: string): string[] | undefined {
    const c = this.m.get(id);
    if (c === undefined) return undefined;
    if (c === null) return ['no traffic seen: kept as it was (review)'];
    if (c.narrowed !== undefined) return [`${describe(c.seen)}${c.narrowed ? ': narrowed to what was seen' : ''}`];
    return [c.block === undefined ? describe(c.seen) : `${c.block.toLocaleString('en-US')} of ${describe(c.seen)}`];
  }
}
