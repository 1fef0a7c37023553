/**
 * The audit folder's side files (`checkpoint.latest`, `uploaded`): hints beside the chain, written
 * whole (temp file, fsync, rename, fsync of the folder) through the log's AuditFs.
 */
import { join } from 'node:path';
import type { AuditFs } from './fs';

/** Writes `name` in `dir` atomically; false when it could not (side files are hints: no alarm). */
export async function writeSideFile(fs: AuditFs, dir: string, name: string, data: Buffer): Promise<boolean> {
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  try {
    const fd = await fs.open(tmp, 'wx').catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
      await fs.unlink(tmp);
      return fs.open(tmp, 'wx');
    });
    try {
      await fs.write(fd, data, 0);
      await fs.fsync(fd);
    } finally {
      await fs.close(fd);
    }
    await fs.rename(tmp, path);
    await fs.fsyncDir(dir);
    return true;
  } catch {
    return false;
  }
}
