/** A BlobStore in memory (tests, the fleet side); copies on write and read so callers cannot alias. */
import { ZonegateError } from '../../policy/errors';
import { checkBlobName } from './blob-store';
import type { BlobCommit, BlobStore } from './blob-store';

/** A BlobStore held in a Map. */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Uint8Array>();

  async read(name: string): Promise<Uint8Array | null> {
    checkBlobName(name);
    const b = this.blobs.get(name);
    return b ? b.slice() : null;
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    checkBlobName(name);
    this.blobs.set(name, Uint8Array.from(bytes));
  }

  async list(): Promise<string[]> {
    return [...this.blobs.keys()].sort();
  }

  async rename(from: string, to: string): Promise<void> {
    checkBlobName(from);
    checkBlobName(to);
    const b = this.blobs.get(from);
    if (!b) throw new ZonegateError('ERR_STORAGE', `cannot rename ${from}: it does not exist`);
    this.blobs.delete(from);
    this.blobs.set(to, b);
  }

  async remove(name: string): Promise<void> {
    checkBlobName(name);
    this.blobs.delete(name);
  }

  async commit(op: BlobCommit): Promise<{ moved: boolean[] }> {
    for (const m of op.moves ?? []) { checkBlobName(m.from); checkBlobName(m.to); }
    for (const w of op.writes) checkBlobName(w.name);
    const moved = (op.moves ?? []).map((m) => {
      const b = this.blobs.get(m.from);
      if (!b) return false;
      this.blobs.delete(m.from);
      this.blobs.set(m.to, b);
      return true;
    });
    for (const w of op.writes) this.blobs.set(w.name, Uint8Array.from(w.bytes));
    return { moved };
  }
}
