/**
 * The gateway's trust root (design.md "Signed bundles and the trust root"). The first root comes
 * from provisioning (the file named by the gateway config's `trustRoot`); rotations arrive as
 * signed `trust` bundles and are accepted only through verifyRootRotation (old threshold, new
 * threshold, version exactly +1, not expired), then persisted as `trust.root` in the state folder.
 * On open, the highest-version root among the persisted and the provisioned one that verifies
 * (self-signed to its own threshold) wins; nothing unverified is ever used.
 */
import { ZonegateError } from '../../policy/errors';
import { readTrustRoot } from '../../policy/bundle/read-trust-root';
import { verifyRootRotation } from '../../policy/bundle/verify-root-rotation';
import { trustFileBytes } from '../../policy/bundle/trust-file';
import { sha256Hex } from '../../policy/bundle/ed25519';
import type { TrustRoot } from '../../policy/bundle/types';
import type { BlobStore } from './blob-store';

/** The blob holding the newest accepted (rotated) trust root's exact bytes. */
export const TRUST_BLOB = 'trust.root';

export interface TrustStoreOptions {
  blobs: BlobStore;
  /** The provisioned root file's bytes (CBOR or the JSON wrapper), or null. */
  provisioned: Uint8Array | null;
}

/** The current trust root of a gateway; open with TrustStore.open(opts). */
export class TrustStore {
  private root: TrustRoot;
  private readonly blobs: BlobStore;

  private constructor(blobs: BlobStore, root: TrustRoot) {
    this.blobs = blobs;
    this.root = root;
  }

  /** Loads the root; throws ERR_TRUST_ROOT when neither the persisted nor the provisioned one verifies. */
  static async open(opts: TrustStoreOptions): Promise<TrustStore> {
    const candidates: TrustRoot[] = [];
    const problems: string[] = [];
    const persisted = await opts.blobs.read(TRUST_BLOB);
    for (const [what, bytes] of [['persisted', persisted], ['provisioned', opts.provisioned]] as const) {
      if (!bytes) continue;
      try { candidates.push(readTrustRoot(trustFileBytes(bytes))); } catch (e) { problems.push(`${what}: ${(e as Error).message}`); }
    }
    if (candidates.length === 0) {
      throw new ZonegateError('ERR_TRUST_ROOT', problems.length ? `no usable trust root (${problems.join('; ')})` : 'no trust root provisioned');
    }
    candidates.sort((a, b) => b.version - a.version);
    return new TrustStore(opts.blobs, candidates[0]);
  }

  /** The root bundles are verified against now. */
  current(): TrustRoot {
    return this.root;
  }

  /**
   * True when `bytes` (CBOR or the JSON wrapper) are exactly the root in force: a retained rotation
   * delivered again after a restart, or the active root imported again. Throws what trustFileBytes throws.
   */
  isCurrent(bytes: Uint8Array): boolean {
    return sha256Hex(trustFileBytes(bytes)) === this.root.hash;
  }

  /** Verifies a rotation against the current root, persists it, makes it current, and returns it. */
  async rotate(bytes: Uint8Array, opts: { now: number; site?: string; device?: string }): Promise<TrustRoot> {
    const next = verifyRootRotation({ oldRoot: this.root, bytes: trustFileBytes(bytes), now: opts.now, site: opts.site, device: opts.device });
    await this.blobs.write(TRUST_BLOB, next.bytes);
    this.root = next;
    return next;
  }
}
