/**
 * A BlobStore in one folder. Atomic, durable replace (design.md "Runtime habits"): write a temp
 * file in the same folder, fsync it, rename it over the blob, fsync the folder (rename(2) is
 * atomic within a file system; the folder fsync makes the new directory entry durable).
 * Temp files are `.NAME.tmp-PID-RAND`; open() sweeps the ones a crash left behind.
 */
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import { checkBlobName } from './blob-store';
import type { BlobStore } from './blob-store';

/** The BlobStore of a gateway's stateDir; open with FsBlobStore.open({ dir }). */
export class FsBlobStore implements BlobStore {
  /** The folder holding the blobs. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the folder (mode 0700) if needed and removes stale temp files. */
  static async open(opts: { dir: string }): Promise<FsBlobStore> {
    try {
      await fsp.mkdir(opts.dir, { recursive: true, mode: 0o700 });
      for (const name of await fsp.readdir(opts.dir)) {
        if (name.startsWith('.') && name.includes('.tmp-')) await fsp.rm(join(opts.dir, name), { force: true });
      }
    } catch (e) {
      throw storageError(`cannot open state folder ${opts.dir}`, e);
    }
    return new FsBlobStore(opts.dir);
  }

  async read(name: string): Promise<Uint8Array | null> {
    checkBlobName(name);
    try {
      return new Uint8Array(await fsp.readFile(join(this.dir, name)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw storageError(`cannot read ${name}`, e);
    }
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    checkBlobName(name);
    const tmp = join(this.dir, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const fh = await fsp.open(tmp, 'wx', 0o600);
      try {
        let off = 0;
        while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, join(this.dir, name));
      await this.syncDir();
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw storageError(`cannot write ${name}`, e);
    }
  }

  async list(): Promise<string[]> {
    try {
      return (await fsp.readdir(this.dir)).filter((n) => !n.startsWith('.')).sort();
    } catch (e) {
      throw storageError(`cannot list ${this.dir}`, e);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    checkBlobName(from);
    checkBlobName(to);
    try {
      await fsp.rename(join(this.dir, from), join(this.dir, to));
      await this.syncDir();
    } catch (e) {
      throw storageError(`cannot rename ${from} to ${to}`, e);
    }
  }

  async remove(name: string): Promise<void> {
    checkBlobName(name);
    try {
      await fsp.rm(join(this.dir, name), { force: true });
      await this.syncDir();
    } catch (e) {
      throw storageError(`cannot remove ${name}`, e);
    }
  }

  private async syncDir(): Promise<void> {
    const dh = await fsp.open(this.dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  }
}

function storageError(message: string, cause: unknown): ZonegateError {
  return new ZonegateError('ERR_STORAGE', `${message}: ${(cause as Error)?.message ?? cause}`, { cause });
}
