/**
 * Checks a policy document (plain data from YAML, JSON or a bundle's CBOR) against the public
 * format of design.md "The policy language" and turns it into the normalised PolicyDocument of
 * types.ts. Every problem is collected (never only the first) as an Issue with its document
 * path and, when a locator is given, its line and column.
 *
 * Order of checks: shapes and field types per entry, then ids (duplicates, asset/identity
 * clashes), then references between entries, then cross-entry facts (addresses inside their
 * zone, overlapping zone networks, conduits that could never match), then the embedded tests.
 * An entry with a bad field still registers its id, so one typo gives one issue, not a cascade.
 */
import { ZonegateError } from './errors';
import type { Issue } from './errors';
import type { DenyReason, PolicyDocument, PolicyTest, Settings } from './types';
import { DENY_REASONS } from './types';
import type { SourcePath, SourcePosition } from './source';
import { IssueList, q, checkId, didYouMean, get, has, readList, readObject, readString, readStringList } from './check';
import type { Path } from './check';
import { readRequest } from './request';
import { ON_EXPIRY, SETTINGS_FIELDS, TEST_FIELDS, TOP_FIELDS } from './validate-fields';
import { ConduitChecker } from './validate-conduit';

/** Where the document came from, for issue positions. */
export interface ValidateOptions {
  /** Named in the error message and in every issue. */
  file?: string;
  /** Line/column of a document path (from parseSource); absent for bundles. */
  locate?: (path: SourcePath) => SourcePosition | undefined;
}


/** Validates and normalises; throws ZonegateError('ERR_POLICY_INVALID') listing every problem. */
export function validatePolicy(raw: unknown, opts: ValidateOptions = {}): PolicyDocument {
  const steps = validatePolicySteps(raw, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Entries checked between two yields of validatePolicySteps (well under a millisecond of work; callers time-box). */
export const VALIDATE_SLICE = 32;

/**
 * validatePolicy in slices: the generator yields after every VALIDATE_SLICE list entries and
 * between the phases of the check, and finally returns the same document (or throws the same
 * error) as validatePolicy. A caller with an event loop (runtime/store) lets other work run
 * between slices; `raw` must not change until the generator is done.
 */
export function* validatePolicySteps(raw: unknown, opts: ValidateOptions = {}): Generator<void, PolicyDocument, void> {
  const r = yield* runChecksSteps(raw, opts);
  if (r.doc) return r.doc;
  throw invalid(r, opts);
}

/** Like validatePolicy but returns the issues; `doc` is set only when there are none. */
export function checkPolicy(raw: unknown, opts: ValidateOptions = {}): { doc?: PolicyDocument; issues: Issue[] } {
  const { doc, issues } = runChecks(raw, opts);
  return doc ? { doc, issues } : { issues };
}

function runChecks(raw: unknown, opts: ValidateOptions): { doc?: PolicyDocument; issues: Issue[]; total: number } {
  const steps = runChecksSteps(raw, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

function* runChecksSteps(raw: unknown, opts: ValidateOptions): Generator<void, { doc?: PolicyDocument; issues: Issue[]; total: number }, void> {
  const out = new IssueList({ file: opts.file, locate: opts.locate });
  const doc = yield* new PolicyChecker(out).run(raw);
  if (out.count === 0 && doc) return { doc, issues: [], total: 0 };
  return sortedIssues(out, opts);
}

const invalid = (r: { issues: Issue[]; total: number }, opts: ValidateOptions): ZonegateError =>
  new ZonegateError('ERR_POLICY_INVALID', `${r.total} problem${r.total === 1 ? '' : 's'} in ${opts.file ?? 'policy'}`, { issues: r.issues });

/** A document validated without its tests (`doc.tests` is empty), and its tests checked one at a time. */
export interface PolicyTestsApart {
  doc: PolicyDocument;
  /** Test `i` of the document (its data), validated as validatePolicy would; undefined when it has problems. */
  test(raw: unknown, i: number): PolicyTest | undefined;
  /** Throws ERR_POLICY_INVALID listing every problem the tests checked so far had. */
  finish(): void;
}

/**
 * validatePolicy of a document whose tests come afterwards, one at a time (policy learn: tens of
 * thousands of learnt tests never held as one list). `raw`'s own `tests` must be absent; throws
 * as validatePolicy does when the rest of the document has problems.
 */
export function validatePolicyTestsApart(raw: unknown, opts: ValidateOptions = {}): PolicyTestsApart {
  const out = new IssueList({ file: opts.file, locate: opts.locate });
  const checker = new PolicyChecker(out);
  const steps = checker.run(raw);
  let r = steps.next();
  while (!r.done) r = steps.next();
  const doc = r.value;
  if (out.count > 0 || !doc) throw invalid(sortedIssues(out, opts), opts);
  checker.documentRead();
  return {
    doc,
    test: (v, i) => checker.test(v, ['tests', i]),
    finish() { if (out.count > 0) throw invalid(sortedIssues(out, opts), opts); },
  };
}

function sortedIssues(out: IssueList, opts: ValidateOptions): { issues: Issue[]; total: number } {
  // Report in reading order when positions are known (Array.prototype.sort is stable).
  const issues = out.issues.slice().sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.col ?? 0) - (b.col ?? 0));
  if (out.dropped > 0) {
    const more: Issue = { path: '', message: `${out.dropped} more problems not listed` };
    if (opts.file !== undefined) more.file = opts.file;
    issues.push(more);
  }
  return { issues, total: Math.max(1, out.count) };
}
export { mergeRanges, parseAddressRange, parseClock } from './validate-fields';

/** A conduit's entry once the document is read (PolicyChecker.documentRead). */
const READ: { path: Path } = Object.freeze({ path: Object.freeze(['conduits']) as unknown as Path });

/** The whole document: the top-level lists in order, then quarantine, settings and tests. */
class PolicyChecker extends ConduitChecker {
  *run(raw: unknown): Generator<void, PolicyDocument | undefined, void> {
    const out = this.out;
    const top = readObject(raw, [], TOP_FIELDS, out, 'a mapping with site, zones, assets, identities and conduits');
    if (!top) return undefined;
    const site = readString(top, 'site', [], out, { required: true });
    if (site !== undefined) checkId(site, ['site'], out);

    const zones = yield* this.list(top, 'zones', (v, p) => this.zone(v, p));
    this.checkZoneOverlaps();
    yield* this.spend(zones.length);
    const assets = yield* this.list(top, 'assets', (v, p) => this.asset(v, p));
    const identities = yield* this.list(top, 'identities', (v, p) => this.identity(v, p));
    this.checkAddressClashes();
    yield* this.spend(this.assetIps.length + this.identityIps.length);
    const conduits = yield* this.list(top, 'conduits', (v, p) => this.conduit(v, p));
    const quarantine = this.quarantine(top);
    const settings = this.settings(get(top, 'settings'));
    const tests = yield* this.list(top, 'tests', (v, p) => this.test(v, p));
    if (out.count > 0 || site === undefined || !settings) return undefined;
    return { site, zones, assets, identities, conduits, quarantine, settings, tests };
  }

  /**
   * The document is read, its tests are to come (validatePolicyTestsApart): they only ask which
   * conduit ids exist, so each conduit's entry (where it was defined, for a duplicate id) is let
   * go: 3.4 MiB held through the tests of a 26,000-conduit learnt policy.
   */
  documentRead(): void {
    for (const id of this.conduits.keys()) this.conduits.set(id, READ);
  }

  // Checks the entries of a top-level list, yielding after every VALIDATE_SLICE of them.
  private *list<T>(top: Record<string, unknown>, key: string, one: (v: unknown, p: Path) => T | undefined): Generator<void, T[], void> {
    if (!has(top, key) || top[key] === undefined || top[key] === null) return [];
    const l = readList(top[key], [key], this.out);
    if (!l) return [];
    const res: T[] = [];
    const items = l.items;
    for (let i = 0; i < items.length; i++) {
      if (!(i in items)) continue; // a hole in a sparse list, skipped as forEach would
      const r = one(items[i], [key, i]);
      if (r !== undefined) res.push(r);
      if (++this.work >= VALIDATE_SLICE) { this.work = 0; yield; }
    }
    return res;
  }

  // Counts work done since the last yield; yields once it reaches a slice (VALIDATE_SLICE entries).
  private work = 0;
  private *spend(n: number): Generator<void, void, void> {
    this.work += n;
    if (this.work >= VALIDATE_SLICE) {
      this.work = 0;
      yield;
    }
  }


  private quarantine(top: Record<string, unknown>): string[] {
    const out = this.out;
    if (!has(top, 'quarantine') || top.quarantine === undefined || top.quarantine === null) return [];
    const list = readStringList(top, 'quarantine', [], out);
    if (!list) return [];
    const res: string[] = [];
    list.forEach((id, i) => {
      if (!this.identities.has(id) && !this.assets.has(id)) {
        out.add(['quarantine', i], `unknown identity or asset '${q(id)}'${didYouMean(id, [...this.identities.keys(), ...this.assets.keys()])}`);
      } else if (!res.includes(id)) res.push(id);
    });
    return res;
  }

  private settings(v: unknown): Settings | undefined {
    const settings: Settings = { onExpiry: 'keep-enforcing' };
    if (v === undefined || v === null) return settings;
    const rec = readObject(v, ['settings'], SETTINGS_FIELDS, this.out);
    if (!rec) return undefined;
    const e = readString(rec, 'onExpiry', ['settings'], this.out);
    if (e !== undefined) {
      if ((ON_EXPIRY as readonly string[]).includes(e)) settings.onExpiry = e as Settings['onExpiry'];
      else { this.out.add(['settings', 'onExpiry'], `must be 'keep-enforcing' or 'deny-all', got '${q(e)}'${didYouMean(e, ON_EXPIRY)}`); return undefined; }
    }
    return settings;
  }

  /** One test, checked against the document's entries read so far. */
  test(v: unknown, path: Path): PolicyTest | undefined {
    const out = this.out;
    const rec = readObject(v, path, TEST_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    const name = readString(rec, 'name', path, out);
    let request: PolicyTest['request'] | undefined;
    if (!has(rec, 'request')) out.add([...path, 'request'], "required field 'request' is missing");
    else {
      request = readRequest(rec.request, [...path, 'request'], out);
      if (request) {
        const rp = [...path, 'request'];
        // The decider resolves a source id as an identity only (compile.ts step 1); an asset as
        // a source is written by its address.
        if (typeof request.from === 'string' && !this.identities.has(request.from)) {
          const hint = this.assets.has(request.from)
            ? ` ('${q(request.from)}' is an asset: write from: { ip: ... } for a request from its address)`
            : didYouMean(request.from, this.identities.keys());
          out.add([...rp, 'from'], `unknown identity '${q(request.from)}'${hint}`);
        }
        if (typeof request.to === 'string') this.assetRef(request.to, [...rp, 'to']);
        const s = request.session;
        if (s?.identity !== undefined) this.identityRef(s.identity, [...rp, 'session', 'identity']);
        if (Array.isArray(s?.grant)) (s!.grant as string[]).forEach((c, i) => this.conduitRef(c, [...rp, 'session', 'grant', i]));
      }
    }
    const expectText = readString(rec, 'expect', path, out, { required: true });
    let expect: PolicyTest['expect'] | undefined;
    if (expectText === 'allow' || expectText === 'deny') expect = expectText;
    else if (expectText !== undefined) out.add([...path, 'expect'], `must be 'allow' or 'deny', got '${q(expectText)}'`);
    const conduit = readString(rec, 'conduit', path, out);
    if (conduit !== undefined) this.conduitRef(conduit, [...path, 'conduit']);
    const reasonText = readString(rec, 'reason', path, out);
    let reason: DenyReason | undefined;
    if (reasonText !== undefined) {
      if ((DENY_REASONS as readonly string[]).includes(reasonText)) reason = reasonText as DenyReason;
      else out.add([...path, 'reason'], `unknown deny reason '${q(reasonText)}'${didYouMean(reasonText, DENY_REASONS)}`);
    }
    if (out.count > before || !request || !expect) return undefined;
    const t: PolicyTest = { request, expect };
    if (name !== undefined) t.name = name;
    if (conduit !== undefined) t.conduit = conduit;
    if (reason !== undefined) t.reason = reason;
    return t;
  }

}
