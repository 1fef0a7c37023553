/**
 * Accepts signed `command` bundles (design.md "Signed bundles": the same envelope carries
 * commands): verified under the trust root's `command` role for this device and site within
 * their validity window (policy/bundle/verify.ts), versions strictly increasing against a
 * high-water mark persisted in the state folder (`command.hwm.json`; TUF spec 5.4: lower →
 * ERR_BUNDLE_ROLLBACK, same version and bytes → 'unchanged', same version other bytes →
 * ERR_BUNDLE_CONFLICT), then the actions in order: quarantine add/remove through the local
 * quarantine (audited kind 'quarantine'; its onChange re-decides live connections, exactly as the
 * console's `quarantine add`), users through access.acceptUsers. The mark moves only after every
 * action applied, so a failed command can be re-sent with the same version.
 */
import { ZonegateError } from '../../policy/errors';
import { verifyBundle } from '../../policy/bundle/verify';
import { parseCommandPayload, type CommandPayload } from '../../policy/bundle/command-payload';
import type { TrustRoot } from '../../policy/bundle/types';
import type { BlobStore } from '../store/blob-store';
import type { LocalQuarantine } from '../console/local-quarantine';

export const COMMAND_HWM_BLOB = 'command.hwm.json';

export interface CommandAcceptorOptions {
  blobs: BlobStore;
  trustRoot: () => TrustRoot;
  device: string;
  site: string;
  now: () => number;
  quarantine: LocalQuarantine;
  acceptUsers: (list: unknown) => Promise<number>;
}

export interface AcceptCommandResult {
  outcome: 'applied' | 'unchanged';
  id: string;
  version: number;
  quarantined: string[];
  released: string[];
  users: number | null;
}

export interface CommandAcceptor {
  /** Verifies and applies one command bundle; throws ZonegateError (ERR_BUNDLE_*, ERR_TRUST_ROOT, ERR_STORAGE). */
  accept(bytes: Uint8Array): Promise<AcceptCommandResult>;
  /** The last applied version and hash (null before the first command). */
  highWater(): { version: number; hash: string } | null;
}

/** Loads the high-water mark; throws ERR_STORAGE when it is corrupt. */
export async function openCommandAcceptor(o: CommandAcceptorOptions): Promise<CommandAcceptor> {
  let hwm: { version: number; hash: string } | null = null;
  const raw = await o.blobs.read(COMMAND_HWM_BLOB);
  if (raw) {
    try {
      const d = JSON.parse(Buffer.from(raw).toString('utf8')) as { version: unknown; hash: unknown };
      if (typeof d.version !== 'number' || !Number.isSafeInteger(d.version) || typeof d.hash !== 'string') throw new Error('not { version, hash }');
      hwm = { version: d.version, hash: d.hash };
    } catch (e) {
      throw new ZonegateError('ERR_STORAGE', `${COMMAND_HWM_BLOB} in the state folder is corrupt: ${(e as Error).message}`, { cause: e });
    }
  }
  let chain: Promise<unknown> = Promise.resolve();
  async function apply(bytes: Uint8Array): Promise<AcceptCommandResult> {
    const v = verifyBundle(bytes, { trustRoot: o.trustRoot(), expectType: 'command', device: o.device, site: o.site, now: o.now() });
    const version = v.body.version;
    const cmd: CommandPayload = parseCommandPayload(v.body.command);
    const base = { id: cmd.id, version, quarantined: [] as string[], released: [] as string[], users: null as number | null };
    if (hwm && version < hwm.version) throw new ZonegateError('ERR_BUNDLE_ROLLBACK', `command bundle v${version} is older than v${hwm.version} already applied`);
    if (hwm && version === hwm.version) {
      if (v.hash === hwm.hash) return { outcome: 'unchanged', ...base };
      throw new ZonegateError('ERR_BUNDLE_CONFLICT', `command bundle v${version} differs from the v${version} already applied`);
    }
    const by = `fleet command ${cmd.id} v${version}`;
    for (const a of cmd.actions) {
      if ('quarantine' in a) {
        for (const id of a.quarantine.add) if (await o.quarantine.add(id, { by, reason: `fleet command ${cmd.id}`, source: 'fleet-command' })) base.quarantined.push(id);
        for (const id of a.quarantine.remove) if (await o.quarantine.remove(id, { by, source: 'fleet-command' })) base.released.push(id);
      } else {
        base.users = await o.acceptUsers(a.users);
      }
    }
    await o.blobs.write(COMMAND_HWM_BLOB, Buffer.from(JSON.stringify({ version, hash: v.hash })));
    hwm = { version, hash: v.hash };
    return { outcome: 'applied', ...base };
  }
  return {
    accept(bytes) {
      const run = chain.then(() => apply(bytes));
      chain = run.catch(() => undefined);
      return run;
    },
    highWater: () => (hwm ? { ...hwm } : null),
  };
}
