/**
 * How an offline import tells a running gateway daemon to pick up a new bundle: the daemon writes
 * its pid to `<stateDir>/zonegate.pid` when it starts (and removes it when it stops); `bundle
 * import` writes through the store into the same stateDir, then sends that pid SIGHUP. On SIGHUP
 * the daemon calls PolicyStore.reload(), which re-reads and fully re-verifies what is on disk.
 *
 * A pid file outlives a crash, and its pid may then belong to any other process. So the file also
 * records who wrote it: the kernel's boot id and the process's start time (/proc/PID/stat field
 * 22, proc(5)); a pid and its start time within one boot name exactly one process. A signal goes
 * only to a process whose identity matches. A pid file without that line (written by an older
 * version, or by hand) is believed only when /proc/PID/cmdline is a zonegate daemon (`... zonegate
 * ... run`). Without /proc nothing is signalled.
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';

/** The daemon's pid file, inside stateDir. */
export const PID_FILE = 'zonegate.pid';

/** Who a pid is: the boot it runs in and its start time in clock ticks since that boot. */
interface ProcessIdentity { boot: string; start: string }

/** Writes the pid file of `pid` (this process by default): the pid, then its identity. */
export async function writePidFile(stateDir: string, pid: number = process.pid): Promise<void> {
  const id = await processIdentity(pid);
  await fsp.writeFile(join(stateDir, PID_FILE), `${pid}\n${id ? `boot ${id.boot} start ${id.start}\n` : ''}`, { mode: 0o644 });
}

/** Removes the pid file if it still names `pid`. */
export async function removePidFile(stateDir: string, pid: number = process.pid): Promise<void> {
  const cur = await readPidFile(stateDir);
  if (cur?.pid === pid) await fsp.rm(join(stateDir, PID_FILE), { force: true });
}

/** The daemon named by the pid file: its pid when it is verified, else null and why. */
export interface DaemonLookup {
  pid: number | null;
  /** Why no daemon is reachable: 'no pid file', or what made the pid file stale. */
  why?: string;
}

/** Finds the running daemon of stateDir; never returns a pid that is not the one that wrote the file. */
export async function findDaemon(stateDir: string): Promise<DaemonLookup> {
  const file = await readPidFile(stateDir);
  if (!file) return { pid: null, why: 'no pid file' };
  const { pid } = file;
  if (pid === process.pid) return { pid: null, why: 'the pid file names this process' };
  if (file.id) {
    const now = await processIdentity(pid);
    if (!now) return { pid: null, why: `stale pid file: no process ${pid}` };
    if (now.boot !== file.id.boot || now.start !== file.id.start) return { pid: null, why: `stale pid file: process ${pid} is not the daemon that wrote it` };
    return { pid };
  }
  const argv = await cmdline(pid);
  if (!argv) return { pid: null, why: `stale pid file: no process ${pid}` };
  if (!isDaemonCommand(argv)) return { pid: null, why: `stale pid file: process ${pid} (${basename(argv[0] ?? '?')}) is not a zonegate daemon` };
  return { pid };
}

/** Sends `signal` (SIGHUP: reload) to the verified daemon; its pid, or null when none is running. */
export async function signalDaemon(stateDir: string, signal: NodeJS.Signals = 'SIGHUP'): Promise<number | null> {
  return (await signalDaemonVerbose(stateDir, signal)).pid;
}

/** signalDaemon, saying why nothing was signalled. */
export async function signalDaemonVerbose(stateDir: string, signal: NodeJS.Signals = 'SIGHUP'): Promise<DaemonLookup> {
  const d = await findDaemon(stateDir);
  if (d.pid === null) return d;
  try { process.kill(d.pid, signal); return d; } catch (e) { return { pid: null, why: `cannot signal pid ${d.pid}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` }; }
}

async function readPidFile(stateDir: string): Promise<{ pid: number; id: ProcessIdentity | null } | null> {
  let text: string;
  try { text = await fsp.readFile(join(stateDir, PID_FILE), 'utf8'); } catch { return null; }
  const [first, second] = text.split('\n');
  const pid = Number(first.trim());
  if (!Number.isSafeInteger(pid) || pid <= 1) return null;
  const m = /^boot ([0-9a-f-]{36}) start (\d+)$/.exec((second ?? '').trim());
  return { pid, id: m ? { boot: m[1], start: m[2] } : null };
}

async function processIdentity(pid: number): Promise<ProcessIdentity | null> {
  try {
    const [stat, boot] = await Promise.all([
      fsp.readFile(`/proc/${pid}/stat`, 'utf8'),
      fsp.readFile('/proc/sys/kernel/random/boot_id', 'utf8'),
    ]);
    // proc(5): "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19]; // field 22, starttime
    return start && /^\d+$/.test(start) ? { boot: boot.trim(), start } : null;
  } catch { return null; }
}

async function cmdline(pid: number): Promise<string[] | null> {
  try {
    const raw = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a) => a !== '');
  } catch { return null; }
}

// `node [flags] .../zonegate.js run ...`, `.../bin/zonegate run ...` (the package's wrapper execs node).
function isDaemonCommand(argv: string[]): boolean {
  const i = argv.findIndex((a) => /^zonegate([-.][\w.-]*)?$/.test(basename(a)));
  return i >= 0 && argv.slice(i + 1).includes('run');
}
