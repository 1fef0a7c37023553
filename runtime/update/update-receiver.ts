/**
 * The gateway's side of runtime updates over MQTT: a signed runtime bundle announces a package
 * (topics.ts), its chunks follow, and once the assembled file matches the signed hash and size
 * the update is installed A/B (install-update.ts) and the service is restarted into it.
 *
 * Order of checks: the bundle is verified (signature, target, validity, version above the
 * high-water mark, arch) BEFORE any chunk is stored; a bundle equal to the high-water mark is the
 * retained announcement of the version already installed and is ignored quietly. Handlers run one
 * at a time (a promise chain), so a chunk never races an install.
 */
import { ZonegateError } from '../../policy/errors';
import type { TrustRoot } from '../../policy/bundle/types';
import { createChunkAssembler, type AssemblerStats } from './chunk-assembler';
import { installUpdate, type InstallResult } from './install-update';
import { UpdateState } from './state-files';
import { decodeChunk, PACKAGE_MAX_BYTES, RUNTIME_BUNDLE_MAX_BYTES } from '../../protocol/update/topics';
import { verifyUpdate } from './verify-update';

/** Payloads waiting for the handler at most (a package is about 6 chunks; room for re-sends). */
export const MAX_QUEUED = 64;

export interface UpdateReceiverOptions {
  root: string;
  stateDir: string;
  /** The gateway's current trust root (it may rotate). */
  trustRoot: () => TrustRoot;
  site: string;
  device: string;
  arch: string;
  now: () => number;
  /**
   * Called after `current` was switched: the daemon stops cleanly and exits with
   * UPDATE_RESTART_EXIT_CODE (systemd Restart=always starts the new slot); tests inject their own.
   */
  restart: (result: InstallResult) => void;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface UpdateReceiverStatus {
  /** The announced package being assembled. */
  pending: { bundleVersion: number; sha256: string; size: number; version: string | null } | null;
  chunks: AssemblerStats;
  /** Payloads dropped because MAX_QUEUED were already waiting. */
  queueDropped: number;
  lastError: { code: string; message: string } | null;
  installed: InstallResult | null;
}

export interface UpdateReceiver {
  /** A runtime bundle payload (raw bytes from the runtime topic). Rejects when refused. */
  onBundle(bytes: Uint8Array): Promise<void | undefined>;
  /** A chunk payload (raw bytes from the chunk topic). Rejects when malformed. */
  onChunk(bytes: Uint8Array): Promise<void | undefined>;
  status(): UpdateReceiverStatus;
}

/** Builds the receiver; it does nothing until payloads arrive. */
export function createUpdateReceiver(options: UpdateReceiverOptions): UpdateReceiver {
  const assembler = createChunkAssembler({ stateDir: options.stateDir });
  const log = options.log ?? (() => undefined);
  let bundle: Uint8Array | null = null;
  let pending: UpdateReceiverStatus['pending'] = null;
  let lastError: UpdateReceiverStatus['lastError'] = null;
  let installed: InstallResult | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  let queued = 0;
  let queueDropped = 0;
  const serial = <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    // Bounded: a flood of payloads is dropped and counted, never buffered without limit.
    if (queued >= MAX_QUEUED) { queueDropped += 1; return Promise.resolve(undefined); }
    queued += 1;
    const p = chain.then(fn).finally(() => { queued -= 1; });
    chain = p.catch(() => undefined);
    return p;
  };
  const fail = (e: unknown): never => {
    lastError = { code: e instanceof ZonegateError ? e.code : 'ERR_UPDATE_INSTALL', message: (e as Error).message };
    throw e;
  };

  async function install(): Promise<void> {
    const bytes = bundle!;
    bundle = null;
    const p = pending!;
    pending = null;
    try {
      installed = await installUpdate({
        root: options.root, stateDir: options.stateDir, bundle: bytes, packageFile: assembler.file,
        trustRoot: options.trustRoot(), site: options.site, device: options.device, arch: options.arch, now: options.now, source: 'mqtt',
      });
    } catch (e) {
      await assembler.reset();
      fail(e);
    }
    await assembler.reset();
    lastError = null;
    log('info', `runtime update ${installed!.version} (bundle v${p.bundleVersion}) installed in slot ${installed!.to}; restarting into it`);
    options.restart(installed!);
  }

  return {
    onBundle: (bytes) => serial(async () => {
      try {
        if (bytes.length > RUNTIME_BUNDLE_MAX_BYTES) throw new ZonegateError('ERR_BUNDLE_SIZE', `runtime bundle of ${bytes.length} bytes exceeds ${RUNTIME_BUNDLE_MAX_BYTES}`);
        const state = await UpdateState.open(options.stateDir);
        const highWater = await state.highWater();
        // highWater - 1: the bundle equal to the mark verifies, and is then ignored below.
        const upd = verifyUpdate({ bytes, trustRoot: options.trustRoot(), site: options.site, device: options.device, arch: options.arch, highWater: Math.max(0, highWater - 1), now: options.now() });
        if (upd.version === highWater) return; // the retained announcement of what is installed
        if (upd.payload.size > PACKAGE_MAX_BYTES) throw new ZonegateError('ERR_UPDATE_PACKAGE', `package of ${upd.payload.size} bytes exceeds ${PACKAGE_MAX_BYTES}`);
        if (pending && pending.sha256 === upd.payload.sha256 && assembler.expected()?.sha256 === upd.payload.sha256) {
          bundle = bytes; // announced again (a re-publish to fill gaps): keep the chunks we have
          return;
        }
        bundle = bytes;
        pending = { bundleVersion: upd.version, sha256: upd.payload.sha256, size: upd.payload.size, version: upd.payload.version ?? null };
        await assembler.expect({ sha256: upd.payload.sha256, size: upd.payload.size });
        log('info', `runtime update bundle v${upd.version} (${upd.payload.version ?? '?'}) verified; waiting for ${upd.payload.size} bytes of package`);
      } catch (e) {
        fail(e);
      }
    }),
    onChunk: (bytes) => serial(async () => {
      let chunk;
      try { chunk = decodeChunk(bytes); } catch (e) { fail(e); }
      if (await assembler.add(chunk!)) await install();
    }),
    status: () => ({ pending, chunks: assembler.stats(), queueDropped, lastError, installed }),
  };
}
