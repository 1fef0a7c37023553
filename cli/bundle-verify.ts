/**
 * `zonegate bundle verify BUNDLE --trust ROOT [--device ID] [--site S] [--json]`: checks a signed
 * bundle the way a gateway would (size, decode, signature threshold, type, target, validity; for a
 * policy bundle also validation, compilation and the embedded tests; the version high-water mark
 * is a gateway's own and is not checked here). Exit 0 with a summary, 1 with the reason.
 */
import { promises as fsp } from 'node:fs';
import type { Command } from './framework';
import { usageError } from './framework';
import { ZonegateError } from '../policy/errors';
import { verifyBundle } from '../policy/bundle/verify';
import { readTrustRoot } from '../policy/bundle/read-trust-root';
import { trustFileBytes } from '../policy/bundle/trust-file';
import { policyVersionTag } from '../policy/bundle/version-tag';
import { runPolicyTests, formatTestFailure } from '../policy/bundle/run-policy-tests';
import { DEFAULT_MAX_BUNDLE_BYTES } from '../policy/bundle/types';
import { validatePolicy } from '../policy/validate';
import { compile } from '../policy/compile';

/** Reads a file of at most maxBytes (checked with stat before reading); ERR_FILE when unreadable. */
export async function readCapped(file: string, maxBytes: number, what: string): Promise<Uint8Array> {
  let size: number;
  try { size = (await fsp.stat(file)).size; } catch (e) {
    throw new ZonegateError('ERR_FILE', `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size > maxBytes) throw new ZonegateError('ERR_BUNDLE_SIZE', `${what} ${file} is ${size} bytes, above the limit of ${maxBytes}`);
  return new Uint8Array(await fsp.readFile(file));
}

export const bundleVerifyCommand: Command = {
  path: ['bundle', 'verify'],
  summary: 'verify a signed bundle against a trust root and print what it carries',
  usage: 'bundle verify BUNDLE --trust ROOT [--device ID] [--site SITE] [--json]',
  description: `
Checks BUNDLE as a gateway would: size, CBOR structure, a threshold of signatures by the trust
root's keys for the bundle's type, the site and device targets (when --site/--device are given),
the validity window, and for a policy bundle the policy itself (validation, compilation, every
embedded test). Exit 0 and a summary when it passes; exit 1 and the reason when it does not.`,
  options: {
    trust: { type: 'string', value: 'ROOT', description: 'trust root file (root.json or root.cbor)' },
    device: { type: 'string', value: 'ID', description: 'check that the bundle targets this device' },
    site: { type: 'string', value: 'SITE', description: 'check that the bundle is for this site' },
    at: { type: 'string', value: 'TIME', description: 'verify as of this ISO 8601 time (default now)' },
  },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const file = ctx.positionals[0];
    const trustFile = ctx.options.trust;
    if (typeof trustFile !== 'string') throw usageError('--trust ROOT is required');
    const now = typeof ctx.options.at === 'string' ? Date.parse(ctx.options.at) : Date.now();
    if (!Number.isFinite(now)) throw usageError(`--at ${String(ctx.options.at)} is not an ISO 8601 time`);
    const root = readTrustRoot(trustFileBytes(await readCapped(trustFile, 1024 * 1024, 'trust root')));
    // A trust root in its JSON wrapper (root.json) is a trust bundle too.
    const bytes = trustFileBytes(await readCapped(file, DEFAULT_MAX_BUNDLE_BYTES, 'bundle'));
    const b = verifyBundle(bytes, {
      trustRoot: root, now,
      device: typeof ctx.options.device === 'string' ? ctx.options.device : undefined,
      site: typeof ctx.options.site === 'string' ? ctx.options.site : undefined,
    });
    const summary: Record<string, unknown> = {
      ok: true, file, type: b.type, site: b.body.site, version: b.body.version, targets: b.body.targets,
      issuedAt: new Date(b.body.issuedAt).toISOString(), expiresAt: new Date(b.body.expiresAt).toISOString(),
      ...(b.body.notBefore !== undefined ? { notBefore: new Date(b.body.notBefore).toISOString() } : {}),
      signedBy: b.keyIds, sha256: b.hash, bytes: bytes.length, trustRoot: { version: root.version, sha256: root.hash },
      ...(b.body.replay ? { replay: b.body.replay } : {}),
    };
    if (b.type === 'policy') {
      let doc;
      try { doc = validatePolicy(b.body.policy, { file: `${file} (policy)` }); } catch (e) {
        throw new ZonegateError('ERR_BUNDLE_POLICY', `the bundle's policy is invalid: ${(e as Error).message}`, { issues: e instanceof ZonegateError ? e.issues : [] });
      }
      const tag = policyVersionTag({ version: b.body.version, hash: b.hash });
      const failures = runPolicyTests(compile(doc, { version: tag }), doc.tests, now);
      if (failures.length) {
        throw new ZonegateError('ERR_POLICY_TEST', `${failures.length} of ${doc.tests.length} embedded test(s) failed`, { issues: failures.map((f) => ({ path: `tests[${f.index}]`, message: formatTestFailure(f) })) });
      }
      summary.policyVersion = tag;
      summary.policy = { site: doc.site, conduits: doc.conduits.length, tests: doc.tests.length, onExpiry: doc.settings.onExpiry };
    }
    if (ctx.json) { ctx.printJson(summary); return 0; }
    const lines = [
      `ok: ${b.type} bundle v${b.body.version} for site ${b.body.site}`,
      `  targets:    ${b.body.targets.join(', ')}`,
      `  issued:     ${summary.issuedAt as string}`,
      `  expires:    ${summary.expiresAt as string}`,
      ...(summary.notBefore ? [`  not before: ${summary.notBefore as string}`] : []),
      `  signed by:  ${b.keyIds.join(', ')}`,
      `  sha256:     ${b.hash}`,
      `  trust root: v${root.version} ${root.hash.slice(0, 16)}`,
    ];
    if (summary.policy) {
      const p = summary.policy as { conduits: number; tests: number; onExpiry: string };
      lines.push(`  policy:     ${summary.policyVersion as string}, ${p.conduits} conduit(s), ${p.tests} embedded test(s) passed, onExpiry ${p.onExpiry}`);
    }
    const r = b.body.replay;
    if (r) {
      const window = r.replayed ? ` from ${new Date(r.from).toISOString()} to ${new Date(r.to).toISOString()}` : '';
      lines.push(`  replayed:   ${r.replayed} recorded decision(s) in ${r.logs} log(s)${window}: ${r.breaks} would be denied${r.acceptedBreaks ? ' (accepted by the signer)' : ''}, ${r.opens} opened`);
    }
    ctx.out(lines.join('\n'));
    return 0;
  },
};
