/** A gateway-side store over a folder (or memory) with a settable clock and a recording audit sink. */
import { FsBlobStore } from '../../runtime/store/fs-blob-store';
import { MemoryBlobStore } from '../../runtime/store/memory-blob-store';
import { TrustStore } from '../../runtime/store/trust-store';
import { PolicyStore } from '../../runtime/store/policy-store';
import type { BlobStore } from '../../runtime/store/blob-store';
import { IndexDecider } from '../../policy/decider';
import type { AuditEvent } from '../../drivers/types';
import type { TrustRoot } from '../../policy/bundle/types';
import { T0, DAY } from '../bundle/fixtures';

export interface Rig {
  store: PolicyStore;
  blobs: BlobStore;
  decider: IndexDecider;
  audit: AuditEvent[];
  clock: { now: number };
}

export async function rig(opts: { root: TrustRoot; dir?: string; blobs?: BlobStore; now?: number; device?: string }): Promise<Rig> {
  const blobs = opts.blobs ?? (opts.dir ? await FsBlobStore.open({ dir: opts.dir }) : new MemoryBlobStore());
  const trust = await TrustStore.open({ blobs, provisioned: opts.root.bytes });
  const decider = new IndexDecider();
  const audit: AuditEvent[] = [];
  const clock = { now: opts.now ?? T0 + DAY };
  const store = new PolicyStore({
    blobs, trust, device: opts.device ?? 'gw-01', site: 'substation-12', now: () => clock.now,
    audit: { record: (e) => audit.push(e) }, activate: (i) => decider.setIndex(i),
  });
  await store.boot();
  return { store, blobs, decider, audit, clock };
}

export async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; issues: readonly { path: string; message: string }[] }> {
  try { await p; } catch (e) { return e as { code: string; message: string; issues: { path: string; message: string }[] }; }
  throw new Error('expected a refusal');
}
