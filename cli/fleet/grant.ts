/**
 * `zonegate fleet grant --key K --site S --targets gw-01 --identity acme-support --conduits
 * vendor-maintenance --from TIME --until TIME [--source-ip IP] --version N --out FILE`: signs a
 * time-boxed grant bundle (verified offline by the gateways like any bundle). With `--revoke ID`
 * (repeatable) and no --identity it signs a revocation list instead.
 */
import { promises as fsp } from 'node:fs';
import type { Command } from '../framework';
import { usageError } from '../framework';
import { sha256Hex } from '../../policy/bundle/ed25519';
import { readKeyFile, signingKeyOf } from '../../fleet/keys';
import { parseTimeOption } from '../../protocol/parse-time';
import { signGrant } from '../../fleet/grant';

export const fleetGrantCommand: Command = {
  path: ['fleet', 'grant'],
  summary: 'sign a time-boxed vendor access grant (or a revocation list) for gateways',
  usage: 'fleet grant --key KEY --site SITE --targets gw-01[,gw-02] --identity ID --conduits C1[,C2] --from TIME --until TIME [--source-ip IP] [--id GRANT-ID] [--reason TEXT] [--revoke GRANT-ID] --version N --out FILE [--json]',
  description: `
A grant lets IDENTITY use the listed conduits (those whose policy requires a grant) between
--from and --until, and only after that person logged in at the gateway's login page (edge
authentication); with --source-ip only from that address. Sign with the trust root's grant-role
key(s). --version must grow with every grant bundle for these gateways. --revoke GRANT-ID
(repeatable) adds a revocation list; without --identity the bundle only revokes.`,
  options: {
    key: { type: 'string', multiple: true, value: 'KEY', description: 'a private grant key file (.key)' },
    site: { type: 'string', value: 'SITE', description: 'the site id' },
    targets: { type: 'string', value: 'IDS', description: "comma-separated device ids, or '*'" },
    identity: { type: 'string', value: 'ID', description: 'the identity (person or vendor account) granted' },
    conduits: { type: 'string', value: 'IDS', description: 'comma-separated conduit ids' },
    from: { type: 'string', value: 'TIME', description: 'now, ISO 8601 time, or duration from now; default now' },
    until: { type: 'string', value: 'TIME', description: 'ISO 8601 time or duration from now (e.g. 4h)' },
    'source-ip': { type: 'string', value: 'IP', description: 'only from this address' },
    id: { type: 'string', value: 'GRANT-ID', description: 'default IDENTITY-vVERSION' },
    reason: { type: 'string', value: 'TEXT', description: 'why (shown on the console and in audit)' },
    revoke: { type: 'string', multiple: true, value: 'GRANT-ID', description: 'revoke this grant id' },
    version: { type: 'string', value: 'N', description: 'bundle version, above the last grant bundle' },
    out: { type: 'string', value: 'FILE', description: 'where to write the bundle' },
  },
  json: true,
  async run(ctx) {
    const o = ctx.options;
    const keyFiles = Array.isArray(o.key) ? o.key.map(String) : [];
    if (keyFiles.length === 0) throw usageError('at least one --key is required');
    if (typeof o.out !== 'string') throw usageError('--out FILE is required');
    if (typeof o.site !== 'string' || o.site === '') throw usageError('--site is required');
    if (typeof o.targets !== 'string' || o.targets.trim() === '') throw usageError("--targets is required (device ids, or '*')");
    const version = Number(o.version);
    if (o.version === undefined || !Number.isSafeInteger(version) || version < 1) throw usageError('--version must be a positive integer');
    const targets = o.targets.split(',').map((t) => t.trim()).filter(Boolean);
    const revoked = Array.isArray(o.revoke) ? o.revoke.map(String) : [];
    const now = Date.now();
    let grant: Parameters<typeof signGrant>[0]['grant'];
    if (typeof o.identity === 'string') {
      if (typeof o.conduits !== 'string' || o.conduits.trim() === '') throw usageError('--conduits is required with --identity');
      if (typeof o.until !== 'string') throw usageError('--until is required with --identity');
      const from = parseTimeOption(typeof o.from === 'string' ? o.from : 'now', { flag: '--from', now, durations: 'future' });
      const until = parseTimeOption(o.until, { flag: '--until', now, durations: 'future' });
      if (until <= from) throw usageError('--until must be after --from');
      grant = {
        id: typeof o.id === 'string' ? o.id : `${o.identity}-v${version}`, identity: o.identity,
        conduits: o.conduits.split(',').map((c) => c.trim()).filter(Boolean), from, until,
        ...(typeof o['source-ip'] === 'string' ? { sourceIp: o['source-ip'] } : {}),
        ...(typeof o.reason === 'string' ? { reason: o.reason } : {}),
      };
    } else if (revoked.length === 0) throw usageError('give --identity (a grant) or --revoke (a revocation list)');
    const keys = (await Promise.all(keyFiles.map((f) => readKeyFile(f)))).map(signingKeyOf);
    const bytes = signGrant({ site: o.site, targets, version, issuedAt: now, keys, grant, revoked });
    await fsp.writeFile(o.out, bytes);
    const summary = {
      ok: true, out: o.out, version, targets, sha256: sha256Hex(bytes), bytes: bytes.length, revoked,
      ...(grant ? { grant: { ...grant, from: new Date(grant.from).toISOString(), until: new Date(grant.until).toISOString() } } : {}),
    };
    if (ctx.json) ctx.printJson(summary);
    else if (grant) ctx.out(`signed grant ${grant.id} (v${version}): ${grant.identity} → ${grant.conduits.join(', ')} from ${summary.grant!.from} until ${summary.grant!.until}${grant.sourceIp ? ` from ${grant.sourceIp}` : ''}${revoked.length ? `; revokes ${revoked.join(', ')}` : ''} → ${o.out}`);
    else ctx.out(`signed revocation of ${revoked.join(', ')} (v${version}) → ${o.out}`);
    return 0;
  },
};
