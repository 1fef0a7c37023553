/**
 * The storage contract of the state directory (design.md: storage behind an interface with one
 * contract test suite run against every implementation, test/store/blob-store.contract.ts).
 * Named blobs of bytes; names are `[A-Za-z0-9][A-Za-z0-9._-]*`.
 */
export interface BlobStore {
  /** The blob's bytes, or null when it does not exist. */
  read(name: string): Promise<Uint8Array | null>;
  /**
   * Replaces the blob atomically and durably: once the promise resolves the new bytes survive a
   * power loss, and a reader (or a restart after a crash at any instant) sees either the old or
   * the new bytes, never a mix or a truncation.
   */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** Names of the blobs that exist, sorted. */
  list(): Promise<string[]>;
  /**
   * Moves blob `from` to `to` atomically and durably, replacing `to`; afterwards `from` does not
   * exist. Throws ZonegateError ERR_STORAGE when `from` does not exist.
   */
  rename(from: string, to: string): Promise<void>;
  /** Removes the blob durably; no-op when absent. */
  remove(name: string): Promise<void>;
  /**
   * Several renames and writes made durable together, with fewer file-system round
   * trips than one call each (one folder fsync for all of them). The moves run first, in order,
   * each atomic, a missing source skipped (`moved[i]` false); then every write replaces its blob
   * atomically. Once the promise resolves all of it survives a power loss; after a crash before
   * that, each move is done or not and each blob holds its old or its new bytes, independently.
   */
  commit(op: BlobCommit): Promise<{ moved: boolean[] }>;
}

/** The work of one BlobStore.commit. */
export interface BlobCommit {
  moves?: readonly { from: string; to: string }[];
  writes: readonly { name: string; bytes: Uint8Array }[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Throws TypeError unless `name` is a valid blob name. */
export function checkBlobName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) throw new TypeError(`invalid blob name: ${JSON.stringify(name)}`);
}
