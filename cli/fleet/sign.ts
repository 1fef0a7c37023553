/**
 * `zonegate fleet sign POLICY.yaml --key K [--key K2] --version N --targets gw-01,gw-02|'*'
 * [--site S] [--expires 30d] --out BUNDLE`: checks the policy (validation, compilation, every
 * embedded test) and signs it into a policy bundle. Refuses (exit 1, naming why) a policy that
 * fails any check.
 */
import { promises as fsp } from 'node:fs';
import type { Command } from '../framework';
import { usageError } from '../framework';
import { ZonegateError } from '../../policy/errors';
import { keyIdOf, sha256Hex } from '../../policy/bundle/ed25519';
import type { SigningKey } from '../../policy/bundle/types';
import { readPolicyText } from '../../runtime/policy-file';
import { readKeyFile, signingKeyOf } from '../../fleet/keys';
import { policyData, preparePolicy, signPolicy } from '../../fleet/sign';
import { parseExpiry, parseTimeOption } from '../../protocol/parse-time';
import { renderDiffMarkdown } from '../../policy/diff-render';
import type { PolicyDiff } from '../../policy/diff';
import type { ReplayEvidence } from '../../policy/bundle/types';
import { diffAgainstPrevious, replayBeforeSigning } from './sign-checks';

export const fleetSignCommand: Command = {
  path: ['fleet', 'sign'],
  summary: 'check a policy and sign it into a bundle for a site and its gateways',
  usage: "fleet sign POLICY.yaml --key KEY [--key KEY2] --version N --targets gw-01,gw-02|'*' [--site SITE] [--expires 30d] [--not-before TIME] [--previous POLICY|BUNDLE] [--replay DIR [--since 7d] [--accept-breaks]] --out BUNDLE [--json]",
  description: `
The policy must pass \`zonegate policy check\` and every embedded test, or nothing is signed
(exit 1 with the reasons). --version must be above every version the gateways accepted before
(they refuse older and equal-but-different bundles). Sign with as many policy-role keys as the
trust root's policy threshold requires.

--previous prints what changes against the policy the gateways run now (a policy file, or the
previous signed bundle) before signing, as \`zonegate policy diff\` does. --replay DIR re-decides
the traffic recorded in the audit logs under DIR (as \`zonegate policy replay\`) and refuses to
sign when the policy would deny any of it, unless --accept-breaks; the bundle then records the
replay (decisions replayed, breaks, opens, time window, logs read).`,
  options: {
    key: { type: 'string', multiple: true, value: 'KEY', description: 'a private policy key file (.key)' },
    version: { type: 'string', value: 'N', description: 'bundle version, a positive integer above the last one' },
    targets: { type: 'string', value: 'IDS', description: "comma-separated device ids, or '*' for every device of the site" },
    site: { type: 'string', value: 'SITE', description: "default: the policy's site" },
    expires: { type: 'string', value: 'WHEN', description: 'duration (30d, 12h) or ISO time; default 30d' },
    'not-before': { type: 'string', value: 'TIME', description: 'ISO time before which gateways refuse the bundle' },
    out: { type: 'string', value: 'FILE', description: 'where to write the bundle' },
    previous: { type: 'string', value: 'FILE', description: 'the policy (or signed bundle) it replaces: print the diff' },
    replay: { type: 'string', multiple: true, value: 'DIR', description: 'audit logs to replay: refuse if recorded traffic would be denied' },
    since: { type: 'string', value: 'T', description: 'with --replay: only decisions at or after T (7d, ISO time)' },
    'accept-breaks': { type: 'boolean', description: 'with --replay: sign even though recorded traffic would be denied' },
  },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const file = ctx.positionals[0];
    const keyFiles = Array.isArray(ctx.options.key) ? ctx.options.key.map(String) : [];
    if (keyFiles.length === 0) throw usageError('at least one --key is required');
    if (typeof ctx.options.out !== 'string') throw usageError('--out FILE is required');
    const version = Number(ctx.options.version);
    if (ctx.options.version === undefined || !Number.isSafeInteger(version) || version < 1) throw usageError('--version must be a positive integer');
    if (typeof ctx.options.targets !== 'string' || ctx.options.targets.trim() === '') throw usageError("--targets is required (device ids, or '*')");
    const targets = ctx.options.targets.split(',').map((t) => t.trim()).filter(Boolean);
    const now = Date.now();
    const expiresAt = parseExpiry(String(ctx.options.expires ?? '30d'), now);
    let notBefore: number | undefined;
    if (typeof ctx.options['not-before'] === 'string') {
      notBefore = Date.parse(ctx.options['not-before']);
      if (!Number.isFinite(notBefore)) throw usageError(`--not-before ${ctx.options['not-before']} is not an ISO 8601 time`);
    }
    const keys = distinctKeys((await Promise.all(keyFiles.map((f) => readKeyFile(f)))).map(signingKeyOf), keyFiles, (m) => ctx.err(m));
    const src = policyData(await readPolicyText(file), file);
    const site = typeof ctx.options.site === 'string' ? ctx.options.site : undefined;
    const replayDirs = Array.isArray(ctx.options.replay) ? ctx.options.replay.map(String) : [];
    if (replayDirs.length === 0 && (ctx.options.since !== undefined || ctx.options['accept-breaks'] === true)) throw usageError('--since and --accept-breaks go with --replay DIR');
    let bytes: Uint8Array;
    let diff: PolicyDiff | undefined;
    let replay: ReplayEvidence | undefined;
    try {
      const prepared = preparePolicy({ policy: src.value, locate: src.locate, file, version, site, issuedAt: now });
      if (typeof ctx.options.previous === 'string') {
        diff = await diffAgainstPrevious(ctx.options.previous, prepared.doc);
        if (!ctx.json) ctx.out(renderDiffMarkdown(diff, ctx.options.previous, file) + '\n');
      }
      if (replayDirs.length > 0) {
        const since = typeof ctx.options.since === 'string' ? parseTimeOption(ctx.options.since, { flag: '--since', now, durations: 'past' }) : undefined;
        const r = await replayBeforeSigning(prepared.index, replayDirs, { since, acceptBreaks: ctx.options['accept-breaks'] === true, signal: ctx.signal });
        replay = r.evidence;
        if (!ctx.json) ctx.out(`replayed ${r.report.replayed} recorded decision(s) from ${replay.logs} log(s): ${r.report.breaks} would be denied${r.report.breaks ? ' (accepted)' : ''}, ${r.report.opens} would be opened`);
      }
      bytes = signPolicy({ policy: src.value, locate: src.locate, file, version, site, targets, issuedAt: now, expiresAt, notBefore, keys, replay }).bytes;
    } catch (e) {
      if (e instanceof ZonegateError && (e.code === 'ERR_POLICY_INVALID' || e.code === 'ERR_POLICY_TEST')) {
        throw new ZonegateError(e.code, `not signing ${file}: ${e.message}`, { issues: e.issues });
      }
      throw e;
    }
    await fsp.writeFile(ctx.options.out, bytes);
    const hash = sha256Hex(bytes);
    const summary = { ok: true, out: ctx.options.out, version, targets, expiresAt: new Date(expiresAt).toISOString(), sha256: hash, policyVersion: `v${version}-${hash.slice(0, 8)}`, bytes: bytes.length,
      ...(replay ? { replay } : {}), ...(diff ? { diff } : {}) };
    if (ctx.json) ctx.printJson(summary);
    else ctx.out(`signed ${file} as policy bundle v${version} (${summary.policyVersion}, ${bytes.length} bytes) for ${targets.join(', ')}, expires ${summary.expiresAt} → ${ctx.options.out}`);
    return 0;
  },
};

/**
 * One signature per key: a key given twice (the same file, or two copies of it) counts once
 * toward a threshold (verify-signatures.ts counts distinct keyIds), so say so instead of letting
 * the signer believe two signatures were made.
 */
function distinctKeys(keys: SigningKey[], files: string[], warn: (m: string) => void): SigningKey[] {
  const seen = new Map<string, string>();
  const out: SigningKey[] = [];
  keys.forEach((k, i) => {
    const id = keyIdOf(k.publicKey);
    const first = seen.get(id);
    if (first !== undefined) {
      warn(`warning: --key ${files[i]} is the same key as --key ${first} (keyId ${id}): it signs once and counts once toward the threshold`);
      return;
    }
    seen.set(id, files[i]);
    out.push(k);
  });
  return out;
}
