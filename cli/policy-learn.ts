/**
 * `zonegate policy learn --audit DIR [--audit DIR2] [--pcap FILE] --site SITE --out FILE
 * [--slack N] [--from POLICY] [--modbus-port N] [--dnp3-port N] [--since T]`: the smallest policy that allows
 * everything observed (policy/learn/learn.ts), written as readable YAML that passes `policy check`
 * and `policy test` (checked before anything is written, then written atomically piece by piece).
 * With --from, prints what it adds
 * and narrows as a `policy diff`.
 */
import { basename, dirname, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Command, CommandContext } from './framework';
import { usageError } from './framework';
import { ZonegateError } from '../policy/errors';
import { compile } from '../policy/compile';
import { diffChanges, diffPolicies, TestChanges, type PolicyChange, type PolicyDiff } from '../policy/diff';
import { renderDiffMarkdown } from '../policy/diff-render';
import { PolicyLearner, type LearnResult } from '../policy/learn/learn';
import { emitPolicyText } from '../policy/learn/emit';
import { checkLearnt, type CheckedLearnt } from '../policy/learn/check-learnt';
import type { PolicyDocument, PolicyTest } from '../policy/types';
import { writeFileAtomicPieces } from '../protocol/write-atomic';
import { loadPolicyFile } from '../runtime/policy-file';
import { parsePolicy } from '../policy/parse';
import { findAuditFolders } from '../protocol/audit/query';
import { forEachAuditRecord } from './replay-audit';
import { parseTimeOption } from '../protocol/parse-time';
import { readPcapModbus } from './pcap-modbus';
import { readPcapDnp3 } from './pcap-dnp3';
import { JsonStream, printJsonPieces } from './json-pieces';
import { readPcapIec104 } from './pcap-iec104';

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

function intOption(v: unknown, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw usageError(`${flag} must be an integer ${min}..${max}, got '${String(v)}'`);
  return n;
}

/**
 * Reads every source into a PolicyLearner and returns its result: the learner (a summary per
 * source × asset) and the base policy's index are garbage once this returns, before the output
 * is built.
 */
interface LearnSources { site: string; base?: PolicyDocument; slack: number; audits: string[]; pcaps: string[]; ports: number[]; dnp3Ports: number[]; iec104Ports: number[]; since?: number; signal: AbortSignal }

async function learnFrom(o: LearnSources): Promise<{ r: LearnResult; sources: string[]; brokenStreams: number; broken104: number }> {
  const learner = new PolicyLearner({ site: o.site, base: o.base, baseIndex: o.base ? compile(o.base) : undefined, slack: o.slack });
  const sources: string[] = [];
  for (const dir of o.audits) {
    const folders = await findAuditFolders(dir).catch((e: Error) => { throw new ZonegateError('ERR_FILE', `cannot read audit folder ${dir}: ${e.message}`, { cause: e }); });
    if (folders.length === 0) throw new ZonegateError('ERR_FILE', `${dir} holds no audit segments (audit-*.seg)`);
    for (const f of folders) {
      await forEachAuditRecord(f, (r) => learner.add(r), { since: o.since, signal: o.signal });
      sources.push(f);
    }
  }
  let brokenStreams = 0, broken104 = 0;
  for (const file of o.pcaps) {
    await readPcapModbus(file, o.ports, (obs) => learner.add(obs));
    brokenStreams += (await readPcapDnp3(file, o.dnp3Ports, (obs) => learner.add(obs))).brokenStreams;
    broken104 += (await readPcapIec104(file, o.iec104Ports, (obs) => learner.add(obs))).brokenStreams;
    sources.push(file);
  }
  return { r: learner.result(), sources, brokenStreams, broken104 };
}

/**
 * Checks the learnt policy (policy/learn/check-learnt.ts: validated as its text reads back, its
 * tests decided one at a time as they are written) and writes its text piece by piece to `file`,
 * atomically (temp file, fsync, rename): a learnt policy is written whole once checked, or not at
 * all. `seeTest` is shown each test written.
 */
async function checkAndWrite(r: LearnResult, header: string[], file: string, seeTest: (t: PolicyTest) => void): Promise<CheckedLearnt> {
  const checked = checkLearnt(r.doc, () => r.tests(true), { file: '(learnt policy)', now: Date.now() });
  // The tests come once the conduits are written: their comments are let go then.
  const tests = function* (): Generator<PolicyTest, void, void> {
    r.comments.release();
    for (const t of checked.tests) { seeTest(t); yield t; }
  };
  const pieces = emitPolicyText(checked.doc, { header, conduit: r.comments }, tests());
  await writeFileAtomicPieces(dirname(resolve(file)), basename(file), pieces, 0o644);
  return checked;
}

export const policyLearnCommand: Command = {
  path: ['policy', 'learn'],
  summary: 'propose the smallest policy that allows the traffic recorded (audit logs) or captured (pcap)',
  usage: 'policy learn --audit DIR [--audit DIR2] [--pcap FILE] --site SITE --out FILE [--slack N] [--from POLICY] [--modbus-port N] [--dnp3-port N] [--iec104-port N] [--since T] [--json]',
  description: `
Reads every decision in the audit logs under DIR (a gateway in monitor mode, or before its first
policy, records what it sees) and every Modbus/TCP and DNP3 request and IEC 104 ASDU from a master in the captures (read through tshark), and
writes a policy allowing exactly that: one identity per source address (named as --from names it),
per source, asset and protocol the Modbus functions, units and address ranges seen (reads and
writes as separate conduits; ranges closer than --slack registers merged), the DNP3 functions, link
addresses, objects per function, point indices, analog output values and CROB operations (reads and
controls apart; unsolicited responses), the IEC 104 types, common addresses, IOAs and
set-point values, TCP ports, a comment on
each conduit (requests, first and last seen) and embedded tests: one allow from real traffic per
conduit and denies just outside the learnt ranges (below, above, the first gap). The output passes \`policy check\` and
\`policy test\`. Malformed, rate-limited and quarantined requests are not learnt.

--from POLICY starts from a policy: its zones, assets and identities are kept, conduits that
allowed traffic are narrowed to what they allowed, the rest is added; the changes are printed as a
policy diff. Audit records name assets by id, so learning from audit logs needs --from for the
assets' addresses; a capture names addresses, which become assets of their own.`,
  options: {
    audit: { type: 'string', multiple: true, value: 'DIR', description: 'an audit folder, state folder or collected fleet folder' },
    pcap: { type: 'string', multiple: true, value: 'FILE', description: 'a capture file (pcap/pcapng) with Modbus/TCP, DNP3 or IEC 104 traffic' },
    site: { type: 'string', value: 'SITE', description: "the site of the learnt policy (default: --from's)" },
    out: { type: 'string', value: 'FILE', description: 'where to write the learnt policy (YAML)' },
    slack: { type: 'string', value: 'N', description: 'merge address ranges less than N registers apart (default 0)' },
    from: { type: 'string', value: 'POLICY', description: 'start from this policy: propose additions and narrowings' },
    'modbus-port': { type: 'string', multiple: true, value: 'N', description: 'with --pcap: Modbus/TCP on this port too (502 always)' },
    'dnp3-port': { type: 'string', multiple: true, value: 'N', description: 'with --pcap: DNP3 on this port too (20000 always)' },
    'iec104-port': { type: 'string', multiple: true, value: 'N', description: 'with --pcap: IEC 104 on this port too (2404 always)' },
    since: { type: 'string', value: 'T', description: 'only audit records at or after T (7d, ISO time)' },
  },
  positionals: { min: 0, max: 0 },
  json: true,
  async run(ctx) {
    // A large site's learn holds its learnt document while the validated copy is built, releasing
    // the first as the second grows: V8 lets the old generation grow to about twice its live size
    // before it collects that garbage (the peak RSS of a 10,000-conduit learn), so this command
    // lets it grow 20% (README, Performance). Process-wide, hence set back when the command ends.
    setFlagsFromString(`--heap-growing-percent=${LEARN_HEAP_GROWING_PERCENT}`);
    try {
      return await learnCommand(ctx);
    } finally {
      setFlagsFromString('--heap-growing-percent=0');
    }
  },
};

/** How far V8 lets the heap grow past its live size during a learn (0: V8's own factor, up to 4×). */
const LEARN_HEAP_GROWING_PERCENT = 20;

/**
 * Learns (learnFrom), then checks and writes the policy (checkAndWrite); returns only what the
 * summary and the diff need: the learner's result (its tests' and comments' sources) and the
 * checked policy's index are garbage once this returns, before the diff is made.
 */
async function learnAndWrite(ctx: CommandContext, lo: LearnSources, out: string, testChanges: TestChanges | undefined): Promise<{ stats: LearnResult['stats']; doc: PolicyDocument; dropped: string[]; kept: number }> {
  const fromBase = lo.base !== undefined;
  const { r, sources, brokenStreams, broken104 } = await learnFrom(lo);
  lo.base = undefined; // the starting policy is garbage once learnt from (the diff reads it again)
  if (brokenStreams > 0) ctx.err(`note: ${brokenStreams} DNP3 stream(s) in the capture stopped being DNP3 (bad CRC or framing); learnt up to there`);
  if (broken104 > 0) ctx.err(`note: ${broken104} IEC 104 stream(s) in the capture stopped being IEC 104 (start byte, length or control field); learnt up to there`);
  if (r.unknownAssets.length) {
    throw new ZonegateError('ERR_USAGE', `the audit records name asset(s) ${r.unknownAssets.join(', ')} whose addresses no policy gives: learn with --from POLICY (the policy that declares them)`);
  }
  const header = [
    `Learnt by \`zonegate policy learn\` from ${r.stats.learnt.toLocaleString('en-US')} request(s) in ${sources.length} source(s)${fromBase ? `, starting from ${String(ctx.options.from)}` : ''}.`,
    'It allows what was observed and nothing else: review every conduit before enforcing it.',
  ];
  const { doc, dropped, kept } = await checkAndWrite(r, header, out, (t) => testChanges?.see(t));
  return { stats: r.stats, doc, dropped, kept };
}

/** diffPolicies(a, b) to print as JSON (printJsonPieces): its changes made as they are printed, then counted. */
function streamedDiff(a: PolicyDocument, b: PolicyDocument, tests: TestChanges | undefined): unknown {
  const counts: PolicyDiff['counts'] = { widens: 0, narrows: 0, changes: 0 };
  const changes = function* (): Generator<PolicyChange, void, void> {
    for (const c of diffChanges(a, b, tests)) { counts[c.effect]++; yield c; }
  };
  // printJsonPieces writes `counts` after the last change (as its keys come).
  return { site: { old: a.site, new: b.site }, changes: new JsonStream(changes()), counts };
}

async function learnCommand(ctx: CommandContext): Promise<number> {
  const o = ctx.options;
  const audits = strings(o.audit), pcaps = strings(o.pcap);
  if (audits.length + pcaps.length === 0) throw usageError('give at least one --audit DIR or --pcap FILE');
  if (typeof o.out !== 'string') throw usageError('--out FILE is required');
  const slack = intOption(o.slack, '--slack', 0, 65535) ?? 0;
  const ports = strings(o['modbus-port']).map((p) => intOption(p, '--modbus-port', 1, 65535) as number);
  const dnp3Ports = strings(o['dnp3-port']).map((p) => intOption(p, '--dnp3-port', 1, 65535) as number);
  const iec104Ports = strings(o['iec104-port']).map((p) => intOption(p, '--iec104-port', 1, 65535) as number);
  const since = typeof o.since === 'string' ? parseTimeOption(o.since, { flag: '--since', now: Date.now(), durations: 'past' }) : undefined;
  // The starting policy is held as its text, deflated, while the learnt one is checked and
  // written (its document, 18 MiB at 10,000 conduits, is read again for the diff: 0.3 s; its
  // text, 4.7 MiB as the UTF-16 its comments' dashes make it, 0.2 MiB deflated).
  const from = typeof o.from === 'string' ? await loadPolicyFile(o.from) : undefined;
  const fromText = from === undefined ? undefined : deflateRawSync(from.text);
  if (from) from.text = '';
  const site = typeof o.site === 'string' ? o.site : from?.doc.site;
  if (site === undefined) throw usageError('--site SITE is required (or --from POLICY)');
  const testChanges = from ? new TestChanges(from.doc.tests) : undefined;
  const sources: LearnSources = { site, base: from?.doc, slack, audits, pcaps, ports, dnp3Ports, iec104Ports, since, signal: ctx.signal };
  if (from) from.doc = undefined as unknown as PolicyDocument; // sources.base is now the only reference
  const { stats, doc, dropped, kept } = await learnAndWrite(ctx, sources, o.out, testChanges);
  const base = fromText === undefined ? undefined : parsePolicy(inflateRawSync(fromText).toString('utf8'), { file: String(o.from) });
  const summary = { ok: true, out: o.out, site, ...stats, conduits: doc.conduits.length, tests: kept, droppedTests: dropped };
  // The summary carries the diff (tens of thousands of changes at a large site): printed in
  // pieces, each change as it is made.
  if (ctx.json) { printJsonPieces(base ? { ...summary, diff: streamedDiff(base, doc, testChanges) } : summary, ctx.out); return 0; }
  const diff = base ? diffPolicies(base, doc, testChanges) : undefined;
  ctx.out(`learnt ${doc.conduits.length} conduit(s) (${stats.added} added${base ? `, ${stats.narrowed} narrowed, ${stats.unchanged} kept` : ''}) and ${kept} test(s) from ${stats.learnt} request(s) → ${o.out}`);
  const skipped = Object.entries(stats.skipped);
  if (skipped.length) ctx.out(`not learnt: ${skipped.map(([k, n]) => `${n} ${k}`).join(', ')}`);
  for (const d of dropped) ctx.err(`note: test dropped, it does not hold in the learnt policy: ${d}`);
  if (diff) ctx.out(`\n${renderDiffMarkdown(diff, String(o.from), o.out)}`);
  return 0;
}
