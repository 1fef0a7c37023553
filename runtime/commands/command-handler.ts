/**
 * The MQTT sync's `command` handler for the composition root (runtime/gateway.ts): opens the
 * command acceptor over the state folder on first use (the access layer is attached after the
 * sync is built) and logs each outcome. Errors propagate: the sync counts them and shows the last
 * one in the status document.
 */
import { ZonegateError } from '../../policy/errors';
import type { TrustRoot } from '../../policy/bundle/types';
import { FsBlobStore } from '../store/fs-blob-store';
import type { Access } from '../access/attach-access';
import { openCommandAcceptor, type CommandAcceptor } from './accept-command';

export interface CommandHandlerOptions {
  stateDir: string;
  device: string;
  site: string;
  now: () => number;
  trustRoot: () => TrustRoot;
  /** The access layer once attached (undefined before: commands are refused, not dropped). */
  access: () => Access | undefined;
  log: { info(m: string): void };
}

/** Returns `(bytes) => Promise<void>` for storeHandlers({ command }). */
export function createCommandHandler(o: CommandHandlerOptions): (bytes: Uint8Array) => Promise<void> {
  let acceptor: Promise<CommandAcceptor> | undefined;
  return async (bytes) => {
    const access = o.access();
    if (!access) throw new ZonegateError('ERR_BUNDLE_TYPE', 'the gateway is not ready for commands yet');
    if (!acceptor) {
      const opening = FsBlobStore.open({ dir: o.stateDir }).then((blobs) => openCommandAcceptor({
        blobs, trustRoot: o.trustRoot, device: o.device, site: o.site, now: o.now,
        quarantine: access.quarantine, acceptUsers: (list) => access.acceptUsers(list),
      }));
      acceptor = opening;
      opening.catch(() => { if (acceptor === opening) acceptor = undefined; });
    }
    const r = await (await acceptor).accept(bytes);
    const parts = [
      r.quarantined.length ? `quarantined ${r.quarantined.join(', ')}` : '',
      r.released.length ? `released ${r.released.join(', ')}` : '',
      r.users !== null ? `${r.users} user(s) from the fleet` : '',
    ].filter(Boolean);
    o.log.info(`command bundle ${r.id} v${r.version} ${r.outcome}${parts.length ? `: ${parts.join('; ')}` : ''}`);
  };
}
