/**
 * Starts a real mosquitto (Debian's) on 127.0.0.1 with a free port and a generated config in a
 * temp folder; stop() and start() again reuse the same port (broker restarts). Never touches a
 * system-wide instance. Use skipReason() first: tests print it and skip when mosquitto is absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

export interface MosquittoOptions {
  /** username → password; enables a password file and disables anonymous access. */
  users?: Record<string, string>;
  /** The text of an ACL file (mosquitto `acl_file`). */
  acl?: string;
  /** Extra config lines appended verbatim. */
  extra?: string[];
  /** Replaces the generated config entirely (e.g. examples/mosquitto.conf with paths rewritten). */
  config?: (ctx: { port: number; dir: string }) => string;
  /** Raise the broker's open-file limit (many clients), capped at the hard limit. Default 4096. */
  nofile?: number;
}

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Stops the broker (SIGTERM, then SIGKILL after 3 s). The port stays ours to restart on. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops the broker and removes the temp folder. */
  close(): Promise<void>;
  /** The broker's recent log lines. */
  log(): string;
}

/** Why the mosquitto tests cannot run here, or undefined when they can. */
export function skipReason(): string | undefined {
  if (!MOSQUITTO) return 'mosquitto is not installed (apt-get install mosquitto)';
  return undefined;
}

/** A free TCP port on 127.0.0.1 (for a second listener of a test broker). */
export { freePort };

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a broker; throws with the broker's log when it does not come up. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  if (!MOSQUITTO) throw new Error(skipReason());
  const dir = mkdtempSync(join(tmpdir(), 'zg-mosq-'));
  chmodSync(dir, 0o755);
  const lines = [
    'persistence false',
    'log_dest stderr',
    'log_type error', 'log_type warning', 'log_type notice',
    'log_timestamp false',
    'max_connections -1',
    'max_queued_messages 10000',
    'user root',
  ];
  if (options.users) {
    const pw = join(dir, 'passwd');
    writeFileSync(pw, '');
    for (const [u, p] of Object.entries(options.users)) {
      const r = spawnSync('mosquitto_passwd', ['-b', pw, u, p], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
    }
    chmodSync(pw, 0o644);
    lines.push(`password_file ${pw}`, 'allow_anonymous false');
  } else {
    lines.push('allow_anonymous true');
  }
  if (options.acl !== undefined) {
    const acl = join(dir, 'acl');
    writeFileSync(acl, options.acl);
    chmodSync(acl, 0o644);
    lines.push(`acl_file ${acl}`);
  }
  lines.push(...(options.extra ?? []));

  let port = 0;
  let child: ChildProcess | undefined;
  let logText = '';
  // Raise the open-file limit up to the hard limit (raising the hard limit needs CAP_SYS_RESOURCE).
  const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim());
  const nofile = Math.min(options.nofile ?? 4096, Number.isFinite(hard) && hard > 0 ? hard : 4096);

  async function launch(): Promise<boolean> {
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(conf, options.config ? options.config({ port, dir }) : [...lines, `listener ${port} 127.0.0.1`, ''].join('\n'));
    chmodSync(conf, 0o644);
    const c = spawn('prlimit', [`--nofile=${nofile}:${nofile}`, MOSQUITTO as string, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let exited = false;
    c.once('exit', () => { exited = true; });
    c.stderr?.on('data', (d) => { logText = (logText + d).slice(-20_000); });
    for (let i = 0; i < 100 && !exited; i += 1) {
      if (await canConnect(port)) return true;
      await delay(30);
    }
    if (!exited) c.kill('SIGKILL');
    return false;
  }

  async function start(): Promise<void> {
    for (let i = 0; i < 5; i += 1) {
      if (await launch()) return;
      await delay(200); // the port may be in TIME_WAIT or briefly taken
    }
    throw new Error(`mosquitto did not start on 127.0.0.1:${port}:\n${logText}`);
  }

  async function stop(): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => c.kill('SIGKILL'), 3000);
      c.once('exit', () => { clearTimeout(t); resolve(); });
      c.kill('SIGTERM');
    });
  }

  for (let i = 0; ; i += 1) {
    port = await freePort();
    try { await start(); break; } catch (e) { if (i >= 3) { rmSync(dir, { recursive: true, force: true }); throw e; } }
  }

  return {
    get port() { return port; },
    get url() { return `mqtt://127.0.0.1:${port}`; },
    dir,
    stop,
    start,
    async close() { await stop(); rmSync(dir, { recursive: true, force: true }); },
    log: () => logText,
  };
}
