/**
 * `zonegate fleet command --key K --site S --targets gw-01|'*' --version N [--quarantine-add
 * ID,...] [--quarantine-remove ID,...] [--users FILE.json] --out FILE [--json]`: signs a command
 * bundle (quarantine devices or identities, push the fleet's users) for gateways to verify under
 * the trust root's command role.
 */
import { promises as fsp } from 'node:fs';
import type { Command } from '../framework';
import { usageError } from '../framework';
import { ZonegateError } from '../../policy/errors';
import { sha256Hex } from '../../policy/bundle/ed25519';
import { readKeyFile, signingKeyOf } from '../../fleet/keys';
import { parseExpiry } from '../../protocol/parse-time';
import { signCommand } from '../../fleet/command';

const ids = (v: unknown): string[] => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : []);

export const fleetCommandCommand: Command = {
  path: ['fleet', 'command'],
  summary: 'sign a command bundle (quarantine ids, push users) for gateways',
  usage: "fleet command --key KEY --site SITE --targets gw-01[,gw-02]|'*' --version N [--quarantine-add ID,...] [--quarantine-remove ID,...] [--users FILE.json] [--id ID] [--expires 7d] --out FILE [--json]",
  description: `
A command bundle is verified by the gateways under the trust root's command role (fleet trust
init --command-key), for their site and device, before its expiry. --quarantine-add cuts asset
or identity ids off on the gateways now (live connections too); --quarantine-remove lifts that.
--users FILE.json pushes a list of { name, role, passwordHash (argon2id PHC), totpSealed? } that
replaces the users the fleet pushed before. --version must grow with every command bundle for
these gateways (an older one is refused as a rollback).`,
  options: {
    key: { type: 'string', multiple: true, value: 'KEY', description: 'a private command key file (.key)' },
    site: { type: 'string', value: 'SITE', description: 'the site id' },
    targets: { type: 'string', value: 'IDS', description: "comma-separated device ids, or '*'" },
    version: { type: 'string', value: 'N', description: 'bundle version, above the last command bundle' },
    'quarantine-add': { type: 'string', value: 'IDS', description: 'comma-separated asset/identity ids to quarantine' },
    'quarantine-remove': { type: 'string', value: 'IDS', description: 'comma-separated ids to release' },
    users: { type: 'string', value: 'FILE', description: 'a JSON list of users to push' },
    id: { type: 'string', value: 'ID', description: 'the command id (default cmd-vVERSION)' },
    expires: { type: 'string', value: 'DURATION', description: 'bundle expiry from now (default 7d)' },
    out: { type: 'string', value: 'FILE', description: 'where to write the bundle' },
  },
  json: true,
  async run(ctx) {
    const o = ctx.options;
    const keyFiles = Array.isArray(o.key) ? o.key.map(String) : typeof o.key === 'string' ? [o.key] : [];
    if (keyFiles.length === 0) throw usageError('at least one --key is required');
    if (typeof o.out !== 'string') throw usageError('--out FILE is required');
    if (typeof o.site !== 'string' || o.site === '') throw usageError('--site is required');
    if (typeof o.targets !== 'string' || o.targets.trim() === '') throw usageError("--targets is required (device ids, or '*')");
    const version = Number(o.version);
    if (o.version === undefined || !Number.isSafeInteger(version) || version < 1) throw usageError('--version must be a positive integer');
    const add = ids(o['quarantine-add']), remove = ids(o['quarantine-remove']);
    let users: unknown;
    if (typeof o.users === 'string') {
      let text: string;
      try { text = await fsp.readFile(o.users, 'utf8'); } catch (e) { throw new ZonegateError('ERR_USAGE', `--users ${o.users}: ${(e as Error).message}`, { cause: e }); }
      try { users = JSON.parse(text); } catch (e) { throw new ZonegateError('ERR_USAGE', `--users ${o.users} is not JSON: ${(e as Error).message}`, { cause: e }); }
    }
    if (add.length === 0 && remove.length === 0 && users === undefined) throw usageError('give --quarantine-add, --quarantine-remove or --users');
    const now = Date.now();
    const expiresAt = typeof o.expires === 'string' ? parseExpiry(o.expires, now) : undefined;
    const keys = (await Promise.all(keyFiles.map((f) => readKeyFile(f)))).map(signingKeyOf);
    const targets = ids(o.targets);
    const id = typeof o.id === 'string' ? o.id : undefined;
    const bytes = signCommand({ site: o.site, targets, version, issuedAt: now, keys, id, quarantineAdd: add, quarantineRemove: remove, users, expiresAt });
    await fsp.writeFile(o.out, bytes);
    const summary = {
      ok: true, out: o.out, id: id ?? `cmd-v${version}`, version, targets, sha256: sha256Hex(bytes), bytes: bytes.length,
      quarantineAdd: add, quarantineRemove: remove, users: Array.isArray(users) ? users.length : null,
    };
    if (ctx.json) ctx.printJson(summary);
    else {
      const what = [add.length ? `quarantine ${add.join(', ')}` : '', remove.length ? `release ${remove.join(', ')}` : '', Array.isArray(users) ? `${users.length} user(s)` : ''].filter(Boolean).join('; ');
      ctx.out(`signed command ${summary.id} (v${version}) for ${targets.join(', ')}: ${what} → ${o.out}`);
    }
    return 0;
  },
};
