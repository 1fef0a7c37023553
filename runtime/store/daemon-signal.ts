/**
 * How an offline import tells a running gateway daemon to pick up a new bundle: the daemon writes
 * its pid to `<stateDir>/zonegate.pid` when it starts (and removes it when it stops); `bundle
 * import` writes through the store into the same stateDir, then sends that pid SIGHUP. On SIGHUP
 * the daemon calls PolicyStore.reload(), which re-reads and fully re-verifies what is on disk.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

/** The daemon's pid file, inside stateDir. */
export const PID_FILE = 'zonegate.pid';

/** Writes this process's pid file into stateDir (the daemon calls this once it enforces). */
export async function writePidFile(stateDir: string, pid: number = process.pid): Promise<void> {
  await fsp.writeFile(join(stateDir, PID_FILE), `${pid}\n`, { mode: 0o644 });
}

/** Removes the pid file if it still names `pid`. */
export async function removePidFile(stateDir: string, pid: number = process.pid): Promise<void> {
  const cur = await readPid(stateDir);
  if (cur === pid) await fsp.rm(join(stateDir, PID_FILE), { force: true });
}

async function readPid(stateDir: string): Promise<number | null> {
  try {
    const n = Number((await fsp.readFile(join(stateDir, PID_FILE), 'utf8')).trim());
    return Number.isSafeInteger(n) && n > 1 ? n : null;
  } catch { return null; }
}

/** Sends SIGHUP to the daemon named by the pid file; returns its pid, or null when none is running. */
export async function signalDaemon(stateDir: string): Promise<number | null> {
  const pid = await readPid(stateDir);
  if (pid === null || pid === process.pid) return null;
  try { process.kill(pid, 'SIGHUP'); return pid; } catch { return null; }
}
