/**
 * `zonegate fleet trust init` and `zonegate fleet trust rotate`: build, sign and write trust roots
 * (root.json: a JSON wrapper around the exact signed CBOR; root.cbor: the CBOR itself).
 */
import { promises as fsp } from 'node:fs';
import type { Command, CommandContext } from '../framework';
import { usageError } from '../framework';
import { ZonegateError } from '../../policy/errors';
import { readTrustRoot } from '../../policy/bundle/read-trust-root';
import { trustFileBytes, trustFileJson } from '../../policy/bundle/trust-file';
import type { RoleName, SigningKey, TrustRoot } from '../../policy/bundle/types';
import { readKeyFile, signingKeyOf } from '../../fleet/keys';
import type { KeyFile } from '../../fleet/keys';
import { buildTrustRoot, rotateTrustRoot, specOf } from '../../fleet/trust';
import type { RoleKeys, TrustRootSpec } from '../../fleet/trust';
import { parseExpiry } from '../../protocol/parse-time';

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
const int = (v: unknown, name: string, dflt?: number): number => {
  if (v === undefined) { if (dflt !== undefined) return dflt; throw usageError(`--${name} N is required`); }
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw usageError(`--${name} must be a positive integer, not ${String(v)}`);
  return n;
};

async function keys(files: string[]): Promise<KeyFile[]> {
  return Promise.all(files.map((f) => readKeyFile(f)));
}

function role(files: KeyFile[], threshold: number): RoleKeys {
  return { publicKeys: files.map((k) => k.publicKey), threshold };
}

async function writeRoot(ctx: CommandContext, root: TrustRoot, out: string): Promise<number> {
  await fsp.writeFile(out, /\.cbor$/i.test(out) ? root.bytes : trustFileJson(root));
  const summary = {
    ok: true, out, version: root.version, sha256: root.hash, expiresAt: new Date(root.expiresAt).toISOString(),
    roles: Object.fromEntries(Object.entries(root.roles).map(([n, r]) => [n, { keyIds: r!.keyIds, threshold: r!.threshold }])),
  };
  if (ctx.json) { ctx.printJson(summary); return 0; }
  ctx.out([`trust root v${root.version} written to ${out} (sha256 ${root.hash.slice(0, 16)}), expires ${summary.expiresAt}`,
    ...Object.entries(summary.roles).map(([n, r]) => `  ${n.padEnd(8)} ${r.threshold} of ${r.keyIds.length}: ${r.keyIds.join(', ')}`)].join('\n'));
  return 0;
}

const ROLE_OPTIONS = {
  'policy-key': { type: 'string', multiple: true, value: 'KEY', description: 'a key (.pub or .key) of the policy role' },
  'policy-threshold': { type: 'string', value: 'N', description: 'signatures a policy bundle needs (default 1)' },
  'grant-key': { type: 'string', multiple: true, value: 'KEY', description: 'a key of the grant role' },
  'grant-threshold': { type: 'string', value: 'N', description: 'default 1' },
  'command-key': { type: 'string', multiple: true, value: 'KEY', description: 'a key of the command role' },
  'command-threshold': { type: 'string', value: 'N', description: 'default 1' },
  'runtime-key': { type: 'string', multiple: true, value: 'KEY', description: 'a key of the runtime role' },
  'runtime-threshold': { type: 'string', value: 'N', description: 'default 1' },
  expires: { type: 'string', value: 'WHEN', description: 'duration (365d, 52w) or ISO time; default 365d' },
  out: { type: 'string', value: 'FILE', description: 'root.json (JSON wrapper) or root.cbor' },
} as const;

async function delegated(ctx: CommandContext, spec: Partial<TrustRootSpec['roles']>): Promise<void> {
  for (const name of ['policy', 'grant', 'command', 'runtime'] as const) {
    const files = list(ctx.options[`${name}-key`]);
    if (files.length) (spec as Record<RoleName, RoleKeys>)[name] = role(await keys(files), int(ctx.options[`${name}-threshold`], `${name}-threshold`, 1));
  }
}

export const fleetTrustInitCommand: Command = {
  path: ['fleet', 'trust', 'init'],
  summary: 'create the first trust root (root keys, threshold, delegated signing roles)',
  usage: 'fleet trust init --root-key KEY... --threshold N --policy-key KEY... [--grant-key KEY...] [--command-key KEY...] [--runtime-key KEY...] [--expires 365d] --out root.json|root.cbor',
  description: `
Root keys may be given as .key (private) or .pub files; the root is signed with every private one
given (--root-key or --sign-with), which must reach the threshold. Gateways are provisioned with
the result (config: trustRoot: { file: root.json }).`,
  options: {
    'root-key': { type: 'string', multiple: true, value: 'KEY', description: 'a root key (.key signs, .pub only lists)' },
    threshold: { type: 'string', value: 'N', description: 'root signatures a new root needs' },
    'sign-with': { type: 'string', multiple: true, value: 'KEY', description: 'an extra private root key to sign with' },
    ...ROLE_OPTIONS,
  },
  json: true,
  async run(ctx) {
    const rootFiles = await keys(list(ctx.options['root-key']));
    if (rootFiles.length === 0) throw usageError('at least one --root-key is required');
    if (list(ctx.options['policy-key']).length === 0) throw usageError('at least one --policy-key is required');
    if (typeof ctx.options.out !== 'string') throw usageError('--out FILE is required');
    const now = Date.now();
    const roles: Partial<TrustRootSpec['roles']> = { root: role(rootFiles, int(ctx.options.threshold, 'threshold')) };
    await delegated(ctx, roles);
    const spec: TrustRootSpec = { version: 1, issuedAt: now, expiresAt: parseExpiry(String(ctx.options.expires ?? '365d'), now), roles: roles as TrustRootSpec['roles'] };
    const signers = uniqueSigners([...rootFiles, ...(await keys(list(ctx.options['sign-with'])))].filter((k) => k.seed));
    return writeRoot(ctx, readTrustRoot(buildTrustRoot({ spec, signers })), ctx.options.out);
  },
};

export const fleetTrustRotateCommand: Command = {
  path: ['fleet', 'trust', 'rotate'],
  summary: 'sign the next trust root (version + 1) with the old and the new root keys',
  usage: 'fleet trust rotate --old ROOT [--new-root-key KEY...] [--threshold N] [--policy-key KEY...] [--grant-key KEY...] [--command-key KEY...] [--runtime-key KEY...] --sign-with KEY... [--expires 365d] --out FILE',
  description: `
Roles not given are carried over from the old root. --sign-with must name private keys reaching
the OLD root's threshold and the NEW root's threshold (a key in both counts for both). The result
is checked exactly as a gateway checks it before it is written.`,
  options: {
    old: { type: 'string', value: 'ROOT', description: 'the current trust root file' },
    'new-root-key': { type: 'string', multiple: true, value: 'KEY', description: 'a root key of the new root (default: the old root keys)' },
    'new-root-keys': { type: 'string', multiple: true, value: 'KEY', description: 'same as --new-root-key' },
    threshold: { type: 'string', value: 'N', description: 'root threshold of the new root (default: the old one)' },
    'sign-with': { type: 'string', multiple: true, value: 'KEY', description: 'private root key (old and/or new) to sign with' },
    ...ROLE_OPTIONS,
  },
  json: true,
  async run(ctx) {
    if (typeof ctx.options.old !== 'string') throw usageError('--old ROOT is required');
    if (typeof ctx.options.out !== 'string') throw usageError('--out FILE is required');
    let oldBytes: Uint8Array;
    try { oldBytes = new Uint8Array(await fsp.readFile(ctx.options.old)); } catch (e) {
      throw new ZonegateError('ERR_FILE', `cannot read ${ctx.options.old}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const old = readTrustRoot(trustFileBytes(oldBytes));
    const now = Date.now();
    const base = specOf(old);
    const roles = { ...base.roles } as Partial<TrustRootSpec['roles']>;
    const newRoot = [...list(ctx.options['new-root-key']), ...list(ctx.options['new-root-keys'])];
    if (newRoot.length) roles.root = role(await keys(newRoot), int(ctx.options.threshold, 'threshold', base.roles.root.threshold));
    else if (ctx.options.threshold !== undefined) roles.root = { ...base.roles.root, threshold: int(ctx.options.threshold, 'threshold') };
    await delegated(ctx, roles);
    const signers = uniqueSigners((await keys(list(ctx.options['sign-with']))).filter((k) => k.seed));
    if (signers.length === 0) throw usageError('--sign-with needs private root keys (.key files)');
    const spec: TrustRootSpec = { version: old.version + 1, issuedAt: now, expiresAt: parseExpiry(String(ctx.options.expires ?? '365d'), now), roles: roles as TrustRootSpec['roles'] };
    return writeRoot(ctx, rotateTrustRoot({ old, spec, signers, now }), ctx.options.out);
  },
};

function uniqueSigners(files: KeyFile[]): SigningKey[] {
  const seen = new Set<string>();
  const out: SigningKey[] = [];
  for (const k of files) if (!seen.has(k.keyId)) { seen.add(k.keyId); out.push(signingKeyOf(k)); }
  return out;
}
