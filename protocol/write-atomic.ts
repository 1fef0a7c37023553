/**
 * The one way a file that must survive power loss is replaced (style.md): a temp file in the same
 * folder, written and fsynced, renamed over the file (rename(2) is atomic within a file system),
 * then the folder fsynced so the rename itself is durable. A crash leaves the old file or the new
 * one, never a torn one. The temp file is removed when the write fails (ENOSPC, say), so that
 * callers can fall back (status-file.ts overwrites in place).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

export async function writeFileAtomic(dir: string, name: string, data: string | Buffer, mode = 0o600): Promise<void> {
  await writeFileAtomicPieces(dir, name, [data], mode);
}

/**
 * writeFileAtomic of the concatenation of `pieces`, written as they come (a large text never
 * held as one string): the file appears whole, or not at all.
 */
export async function writeFileAtomicPieces(dir: string, name: string, pieces: Iterable<string | Buffer>, mode = 0o600): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  try {
    const fh = await fsp.open(tmp, 'w', mode);
    try {
      for (const piece of pieces) await fh.writeFile(piece);
      await fh.chmod(mode); // the umask may have narrowed the mode open() was given
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, join(dir, name));
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dir);
}

/** fsync of a folder: makes the creations, renames and unlinks in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}
