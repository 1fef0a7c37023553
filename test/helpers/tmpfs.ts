/**
 * A small tmpfs the test mounts itself, to fill a disk for real (ENOSPC from the kernel, not an
 * injected error). Needs root (CAP_SYS_ADMIN); tmpfsUnavailable() says why not, so the test can
 * SKIP with the reason. unmount() is idempotent and also runs at process exit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  unmount(): void;
  /** Fills the disk with `name` until ENOSPC, leaving about `leaveBytes` free (whole 4 KiB pages); returns bytes written. */
  fill(name: string, leaveBytes?: number): number;
}

/** Why a tmpfs cannot be mounted here, or undefined when it can. */
export function tmpfsUnavailable(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (mounting a tmpfs needs CAP_SYS_ADMIN)';
  try {
    const t = mountTmpfs(64 * 1024);
    t.unmount();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Mounts a tmpfs of `sizeBytes` on a fresh folder. Throws when mount fails. */
export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'zg-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmdirSync(dir);
    throw new Error(`cannot mount a tmpfs: ${(r.stderr || r.error?.message || '').trim()}`);
  }
  let mounted = true;
  const unmount = (): void => {
    if (!mounted) return;
    mounted = false;
    process.removeListener('exit', unmount);
    spawnSync('umount', ['-l', dir]);
    try { rmdirSync(dir); } catch { /* busy or gone */ }
  };
  process.on('exit', unmount);
  return {
    dir,
    unmount,
    fill(name, leaveBytes = 0) {
      const fd = openSync(join(dir, name), 'a');
      const page = Buffer.alloc(4096, 0x5a);
      let written = 0;
      try {
        for (;;) {
          try { writeSync(fd, page); written += page.length; } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw e;
          }
        }
      } finally { closeSync(fd); }
      if (leaveBytes > 0) {
        const keep = Math.max(0, written - Math.ceil(leaveBytes / 4096) * 4096);
        const t = spawnSync('truncate', ['-s', String(keep), join(dir, name)]);
        if (t.status !== 0) throw new Error('truncate failed');
        written = keep;
      }
      return written;
    },
  };
}
