/**
 * `zonegate fleet release PACKAGE --key K --version N --arch A --targets IDS --site S --out BUNDLE
 * [--package-version V] [--downgrade] [--expires 30d] [--broker URL [--device D]]`: signs a runtime update
 * for a package (and publishes the bundle and the package's chunks when --broker is given).
 */
import { promises as fsp } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from '../framework';
import { usageError } from '../framework';
import { readKeyFile, signingKeyOf } from '../../fleet/keys';
import { parseExpiry } from '../../protocol/parse-time';
import { closeBroker, connectBroker } from '../../fleet/broker';
import { brokerOptionSpecs } from './broker-options';
import type { BrokerOptions } from '../../fleet/broker';

const { key: _tlsKey, ...brokerSpecs } = brokerOptionSpecs;

function brokerOf(o: Record<string, unknown>): BrokerOptions {
  const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  return { url: s('broker')!, username: s('username'), passwordFile: s('password-file'), ca: s('ca'), cert: s('cert'), key: s('tls-key') };
}
import { publishRelease, signRelease } from '../../fleet/release';

/** `zonegate-0.2.0-linux-arm64.tar.gz` → 0.2.0 */
function versionFromName(file: string): string | undefined {
  return /^zonegate-(.+)-linux-[a-z0-9]+\.tar\.gz$/.exec(basename(file))?.[1];
}

export const fleetReleaseCommand: Command = {
  path: ['fleet', 'release'],
  summary: 'sign a runtime update for a package (and publish it with its chunks over MQTT)',
  usage: "fleet release PACKAGE --key KEY --version N --arch arm64|armv7|x64 --targets IDS|'*' --site SITE --out BUNDLE [--package-version V] [--expires 30d] [--broker URL [--device D]] [--json]",
  description: `
Signs a bundle of type runtime (the trust root's runtime role) naming PACKAGE's sha256, size,
architecture and zonegate version. --version is the bundle version and must be above every
runtime bundle the gateways accepted (they refuse older ones). With --broker the bundle is
published retained on zonegate/v1/SITE/all/runtime (or one device's topic with --device) and
the package follows in 256 KiB chunks on zonegate/v1/SITE/all/runtime/chunk. Gateways verify the
bundle, assemble and hash-check the package, install it into their inactive slot and restart
into it; a version that is not healthy in time is rolled back by itself. A package whose
zonegate version is older than the one a gateway runs is refused there unless the release is
signed with --downgrade (a field of the signed payload, so it cannot be added afterwards).`,
  options: {
    key: { type: 'string', multiple: true, value: 'KEY', description: 'a private runtime-role key file (.key)' },
    version: { type: 'string', value: 'N', description: 'bundle version, a positive integer above the last one' },
    arch: { type: 'string', value: 'ARCH', description: 'arm64, armv7 or x64 (the package\'s)' },
    targets: { type: 'string', value: 'IDS', description: "comma-separated device ids, or '*'" },
    site: { type: 'string', value: 'SITE', description: 'the site the update is for' },
    'package-version': { type: 'string', value: 'V', description: 'zonegate version in the package (default: from its file name)' },
    downgrade: { type: 'boolean', description: 'sign a deliberate downgrade: devices refuse a runtime older than theirs without it' },
    expires: { type: 'string', value: 'WHEN', description: 'duration (30d, 12h) or ISO time; default 30d' },
    out: { type: 'string', value: 'FILE', description: 'where to write the bundle' },
    device: { type: 'string', value: 'ID', description: "with --broker: publish to one device's topic instead of the site's" },
    // The broker options, except that --key is the signing key here: the TLS client key is --tls-key.
    ...brokerSpecs,
    'tls-key': { type: 'string', value: 'FILE', description: 'PEM client key for TLS' },
    broker: { type: 'string', value: 'URL', description: 'publish the bundle and the chunks to this broker' },
  },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const file = ctx.positionals[0];
    const o = ctx.options;
    const keyFiles = Array.isArray(o.key) ? o.key.map(String) : [];
    if (keyFiles.length === 0) throw usageError('at least one --key is required');
    if (typeof o.out !== 'string') throw usageError('--out FILE is required');
    const version = Number(o.version);
    if (o.version === undefined || !Number.isSafeInteger(version) || version < 1) throw usageError('--version must be a positive integer');
    if (typeof o.arch !== 'string') throw usageError('--arch is required (arm64, armv7, x64)');
    if (typeof o.site !== 'string' || o.site === '') throw usageError('--site is required');
    if (typeof o.targets !== 'string' || o.targets.trim() === '') throw usageError("--targets is required (device ids, or '*')");
    const targets = o.targets.split(',').map((t) => t.trim()).filter(Boolean);
    const packageVersion = typeof o['package-version'] === 'string' ? o['package-version'] : versionFromName(file);
    if (!packageVersion) throw usageError(`cannot tell the zonegate version from the name ${basename(file)}; pass --package-version`);
    const now = Date.now();
    const expiresAt = parseExpiry(String(o.expires ?? '30d'), now);
    const keys = (await Promise.all(keyFiles.map((f) => readKeyFile(f)))).map(signingKeyOf);
    const pkg = new Uint8Array(await fsp.readFile(file));
    const signed = signRelease({ pkg, packageVersion, arch: o.arch, version, site: o.site, targets, issuedAt: now, expiresAt, keys, downgrade: o.downgrade === true });
    await fsp.writeFile(o.out, signed.bytes);
    const summary: Record<string, unknown> = {
      ok: true, out: o.out, version, packageVersion, arch: o.arch, targets, sha256: signed.sha256, size: signed.size,
      expiresAt: new Date(expiresAt).toISOString(), bytes: signed.bytes.length,
    };
    if (typeof o.broker === 'string') {
      const client = await connectBroker(brokerOf(o));
      try {
        summary.published = await publishRelease({ client, site: o.site, device: typeof o.device === 'string' ? o.device : undefined, bundle: signed.bytes, pkg, sha256: signed.sha256 });
      } finally {
        await closeBroker(client);
      }
    }
    if (ctx.json) { ctx.printJson(summary); return 0; }
    ctx.out(`signed runtime update v${version}: zonegate ${packageVersion} (${o.arch}, ${signed.size} bytes, sha256 ${signed.sha256.slice(0, 16)}…) for ${targets.join(', ')} → ${o.out}`);
    const p = summary.published as { topic: string; chunks: number } | undefined;
    if (p) ctx.out(`published on ${p.topic} with ${p.chunks} chunk(s)`);
    return 0;
  },
};
