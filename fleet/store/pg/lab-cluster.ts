/**
 * A throwaway PostgreSQL cluster for the tests, the benches and `make demo` (never for a real
 * fleet): Debian's server binaries (/usr/lib/postgresql/<v>/bin), `initdb --no-sync` into a temp
 * folder, `postgres` on a free 127.0.0.1 port with its unix socket in that folder, stopped
 * (SIGQUIT, an immediate shutdown) and removed by close(). PostgreSQL refuses to run as root: as root,
 * the cluster belongs to `nobody` (present on every Debian system, unlike the `postgres` user the
 * packages create) and both programs run under that uid. Readiness is a real connection, never a
 * sleep. Not durable unless asked (fsync, synchronous_commit and full_page_writes off). Use
 * labClusterSkipReason() first: callers print it and go without.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The newest installed server's bin folder with initdb, postgres and pg_ctl, or undefined. */
export function postgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(base, v, 'bin');
    if (['initdb', 'postgres', 'pg_ctl'].every((p) => existsSync(join(bin, p)))) return bin;
  }
  return undefined;
}

function nobody(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'));
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** Why a throwaway cluster cannot run here, or undefined when it can. */
export function labClusterSkipReason(): string | undefined {
  if (!postgresBin()) return 'PostgreSQL server binaries (initdb, postgres, pg_ctl under /usr/lib/postgresql/*/bin) are missing (bash build/setup-deps.sh as root installs postgresql)';
  if (process.getuid?.() === 0 && !nobody()) return 'running as root and there is no `nobody` user to own the cluster';
  return undefined;
}

export interface LabCluster {
  readonly port: number;
  /** URL of the `postgres` database (user zonegate, trust auth on loopback). */
  readonly url: string;
  readonly dir: string;
  /** The postmaster's pid (its backends are its children), and the server's major version. */
  readonly pid: number;
  readonly version: string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** The server's recent log lines. */
  log(): string;
  close(): Promise<void>;
}

export interface LabClusterOptions {
  /** A TCP port on 127.0.0.1 that nothing listens on (the tests' and the demo's own pickers). */
  freePort: () => Promise<number>;
  /** fsync and synchronous_commit (default false: tests and the demo need no durability, benches do). */
  durable?: boolean;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

// pg is loaded when used, as in pool.ts.
const pgClient = () => (require('pg') as typeof import('pg')).Client;

async function canQuery(url: string): Promise<boolean> {
  const Client = pgClient();
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try { await c.connect(); await c.query('SELECT 1'); return true; } catch { return false; } finally { await c.end().catch(() => undefined); }
}

/** The `-c` settings of a lab server: loopback only, its socket in the temp folder, no durability unless asked. */
function serverSettings(o: LabClusterOptions, sock: string): Record<string, string> {
  const durable = o.durable ?? false;
  return {
    listen_addresses: '127.0.0.1', unix_socket_directories: sock, max_connections: '60', shared_buffers: '64MB',
    fsync: durable ? 'on' : 'off', synchronous_commit: durable ? 'on' : 'off', full_page_writes: durable ? 'on' : 'off',
    logging_collector: 'off', log_min_messages: 'warning', ...o.settings,
  };
}

interface Prepared { bin: string; dir: string; data: string; sock: string; ids: { uid?: number; gid?: number }; env: NodeJS.ProcessEnv }

/** Runs a program to its end without blocking the event loop; its exit code and stderr. */
function runToEnd(cmd: string, args: string[], o: { uid?: number; gid?: number; env: NodeJS.ProcessEnv; cwd: string }): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { ...o, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (d) => { err = (err + d).slice(-10_000); });
    c.once('error', (e) => resolve({ code: null, err: e.message }));
    c.once('close', (code) => resolve({ code, err }));
  });
}

/** The temp folder, owned by `nobody` as root, with `initdb` run in it; throws initdb's error. */
async function initCluster(): Promise<Prepared> {
  const bin = postgresBin();
  const why = labClusterSkipReason();
  if (!bin || why) throw new Error(why);
  const owner = process.getuid?.() === 0 ? nobody() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'zg-pg-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(data, { mode: 0o700 });
  mkdirSync(sock, { mode: 0o700 });
  if (owner) { chownSync(data, owner.uid, owner.gid); chownSync(sock, owner.uid, owner.gid); }
  const ids = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  // Asynchronous, so that a caller (the demo) goes on with other work for initdb's second or two.
  const init = await runToEnd(join(bin, 'initdb'), ['-D', data, '-U', 'zonegate', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], { ...ids, env, cwd: dir });
  if (init.code !== 0) { rmSync(dir, { recursive: true, force: true }); throw new Error(`initdb failed: ${init.err}`); }
  return { bin, dir, data, sock, ids, env };
}

/** One try at starting `postgres` on `port`: resolves the child once it answers a query, null when it did not come up. */
async function launch(p: Prepared, port: number, settings: Record<string, string>, logLine: (text: string) => void): Promise<ChildProcess | null> {
  const args = ['-D', p.data, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const c = spawn(join(p.bin, 'postgres'), args, { ...p.ids, env: p.env, cwd: p.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let exited = false;
  c.once('exit', () => { exited = true; });
  c.once('error', (e) => { logLine(`${e.message}\n`); exited = true; });
  c.stderr?.on('data', (d) => logLine(String(d)));
  const url = `postgres://zonegate@127.0.0.1:${port}/postgres`;
  for (let i = 0; i < 300 && !exited; i++) {
    if (await canQuery(url)) return c;
    await delay(50);
  }
  if (!exited) { c.kill('SIGKILL'); await new Promise((r) => c.once('exit', r)); }
  return null;
}

/** Initialises and starts a cluster; throws with the server's log when it does not come up. */
export async function startLabCluster(o: LabClusterOptions): Promise<LabCluster> {
  const p = await initCluster();
  const settings = serverSettings(o, p.sock);
  let logText = '';
  const logLine = (t: string) => { logText = (logText + t).slice(-20_000); };
  let child: ChildProcess | null = null;
  let port = 0;
  // Another program may take the port between freePort() and the bind: pick another and retry.
  for (let i = 0; !child; i++) {
    port = await o.freePort();
    child = await launch(p, port, settings, logLine);
    if (!child && i >= 4) { rmSync(p.dir, { recursive: true, force: true }); throw new Error(`postgres did not start on 127.0.0.1:${port}:\n${logText}`); }
  }
  let running: ChildProcess | null = child;
  // A process that dies early (an uncaught error) must not leave a server and its folder behind.
  const onExit = () => { if (running && running.exitCode === null) running.kill('SIGKILL'); rmSync(p.dir, { recursive: true, force: true }); };
  process.once('exit', onExit);
  const url = (db = 'postgres') => `postgres://zonegate@127.0.0.1:${port}/${db}`;
  return {
    port, url: url(), dir: p.dir, pid: child.pid ?? 0, version: p.bin.split('/').slice(-2, -1)[0],
    log: () => logText,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new TypeError(`bad database name ${name}`);
      const c = new (pgClient())({ connectionString: url() });
      await c.connect();
      try { await c.query(`CREATE DATABASE ${name}`); } finally { await c.end(); }
      return url(name);
    },
    async close() {
      const c = running;
      running = null;
      if (c && c.exitCode === null && c.signalCode === null) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
          c.once('exit', () => { clearTimeout(t); resolve(); });
          // Immediate shutdown: no shutdown checkpoint, the folder is removed next (a fast shutdown,
          // SIGINT, took 3.6 s in the demo at load 10 for a checkpoint nobody reads).
          c.kill('SIGQUIT');
        });
      }
      process.removeListener('exit', onExit);
      rmSync(p.dir, { recursive: true, force: true });
    },
  };
}
