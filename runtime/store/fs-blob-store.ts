/**
 * A BlobStore in one folder. Atomic, durable replace (design.md "Runtime habits"): write a temp
 * file in the same folder, fsync it, rename it over the blob, fsync the folder (rename(2) is
 * atomic within a file system; the folder fsync makes the new directory entry durable).
 * Temp files are `.NAME.tmp-PID-RAND`; open() sweeps the ones a crash left behind.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import { checkBlobName } from './blob-store';
import type { BlobCommit, BlobStore } from './blob-store';

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

  /**
   * The moves and the writes with overlapping round trips (about 6 deep instead of 8 per write
   * and 4 per rename): the temp files are written and fsynced while the moves run; each file's
   * close overlaps its rename; one fsync of the folder makes every new directory entry durable.
   * rename(2) within one folder is atomic, so a crash leaves each entry old or new. Plain fds
   * (fs callbacks), not FileHandles: a gateway fleet simulated in one process commits thousands
   * of times, and FileHandle objects cost main-thread time and garbage.
   */
  async commit(op: BlobCommit): Promise<{ moved: boolean[] }> {
    const moves = op.moves ?? [];
    for (const m of moves) { checkBlobName(m.from); checkBlobName(m.to); }
    for (const w of op.writes) checkBlobName(w.name);
    const tmps: (string | undefined)[] = [];
    const closing: Promise<void>[] = [];
    try {
      const doMoves = async (): Promise<boolean[]> => {
        const moved: boolean[] = [];
        for (const m of moves) {
          try {
            await fsCall<void>((cb) => fs.rename(join(this.dir, m.from), join(this.dir, m.to), cb));
            moved.push(true);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
            moved.push(false);
          }
        }
        return moved;
      };
      const writeTemp = async (w: { name: string; bytes: Uint8Array }, i: number): Promise<void> => {
        const tmp = join(this.dir, `.${w.name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
        const fd = await fsCall<number>((cb) => fs.open(tmp, 'wx', 0o600, cb));
        tmps[i] = tmp;
        try {
          let off = 0;
          while (off < w.bytes.length) off += await fsCall<number>((cb) => fs.write(fd, w.bytes, off, w.bytes.length - off, null, cb));
          await fsCall<void>((cb) => fs.fsync(fd, cb));
        } catch (e) {
          await fsCall<void>((cb) => fs.close(fd, cb)).catch(() => undefined);
          throw e;
        }
        closing.push(fsCall<void>((cb) => fs.close(fd, cb)));
      };
      // allSettled: on a failure every temp file is known (and removed below) before rethrowing.
      const settled = await Promise.allSettled([doMoves(), ...op.writes.map(writeTemp)]);
      for (const r of settled) if (r.status === 'rejected') throw r.reason;
      const moved = (settled[0] as PromiseFulfilledResult<boolean[]>).value;
      // Renames after every temp file is durable and every move is done (the order of design.md:
      // the old active becomes the previous before the new active takes its name). The blobs are
      // independent (each old or new after a crash), so their renames may overlap.
      await Promise.all(op.writes.map((w, i) => fsCall<void>((cb) => fs.rename(tmps[i] as string, join(this.dir, w.name), cb))));
      tmps.length = 0;
      await Promise.all([this.syncDirFd(), ...closing]);
      return { moved };
    } catch (e) {
      await Promise.all(closing.map((c) => c.catch(() => undefined)));
      await Promise.all(tmps.map((t) => (t ? fsp.rm(t, { force: true }).catch(() => undefined) : undefined)));
      throw storageError(`cannot commit ${op.writes.map((w) => w.name).join(', ')}`, e);
    }
  }

  // fsync of the folder with a plain fd; its close does not delay the caller.
  private async syncDirFd(): Promise<void> {
    const fd = await fsCall<number>((cb) => fs.open(this.dir, 'r', cb));
    try { await fsCall<void>((cb) => fs.fsync(fd, cb)); } finally { await fsCall<void>((cb) => fs.close(fd, cb)); }
  }

  private async syncDir(): Promise<void> {
    const dh = await fsp.open(this.dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  }
}

function storageError(message: string, cause: unknown): ZonegateError {
  return new ZonegateError('ERR_STORAGE', `${message}: ${(cause as Error)?.message ?? cause}`, { cause });
}

// One node:fs callback call as a promise.
function fsCall<T>(start: (cb: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((err, value) => { if (err) reject(err); else resolve(value as T); });
  });
}
