/**
 * `zonegate console --config FILE [--serial DEV [--baud N] | --socket PATH]`: the field
 * technician's console. When the running daemon has a console socket (config `console.socket`)
 * this command bridges the terminal (stdin/stdout, or the serial line) to it, so the console
 * sees the live gateway (listeners, alarms, recent denials, edge sessions). Without a reachable
 * daemon it runs a console of its own over the gateway's state folder (users, grants, local
 * quarantine, policy store): status shows the stored policy only, and `audit tail`/`denials`
 * show this process's records only (the daemon's are in its audit log).
 */
import { connect, type Socket } from 'node:net';
import type { Command } from './framework';
import { usageError } from './framework';
import { loadConfig, listenLabel } from '../runtime/config';
import { IndexDecider } from '../policy/decider';
import { createMemoryAudit } from '../runtime/memory-audit';
import { promises as fsp } from 'node:fs';
import { FsBlobStore } from '../runtime/store/fs-blob-store';
import { TrustStore } from '../runtime/store/trust-store';
import { PolicyStore } from '../runtime/store/policy-store';
import { signalDaemon } from '../runtime/store/daemon-signal';
import { attachAccess } from '../runtime/access/attach-access';
import { runConsole } from '../runtime/console/shell';
import { openSerial } from '../runtime/console/serial';
import { listenConsoleSocket } from '../runtime/console/socket';

function tryConnect(path: string): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(null));
  });
}

export const consoleCommand: Command = {
  path: ['console'],
  summary: "the field technician's console (login, status, denials, bundle import, break-glass)",
  usage: 'console --config FILE [--serial DEV [--baud N]] [--socket PATH]',
  description: `
Attaches a console to this terminal, to a serial line (--serial /dev/ttyUSB0; configured with
stty: raw, no echo, --baud default 115200) or to a unix socket (--socket PATH: one console per
connection). Log in with a local user (zonegate user add); type 'help' for the commands your role
may use. If the gateway daemon runs with a console socket (config console.socket) the console is
the daemon's (live status); otherwise it works on the state folder alone.`,
  options: {
    config: { type: 'string', short: 'c', value: 'FILE', description: 'the gateway config' },
    serial: { type: 'string', value: 'DEV', description: 'a serial device (or pty) instead of this terminal' },
    baud: { type: 'string', value: 'N', description: 'serial speed, default 115200' },
    socket: { type: 'string', value: 'PATH', description: 'serve consoles on this unix socket instead' },
  },
  async run(ctx) {
    if (typeof ctx.options.config !== 'string') throw usageError('--config FILE is required');
    if (ctx.options.serial !== undefined && ctx.options.socket !== undefined) throw usageError('give --serial or --socket, not both');
    const config = await loadConfig(ctx.options.config);
    const acfg = config.parts.console;
    const baud = ctx.options.baud === undefined ? 115200 : Number(ctx.options.baud);
    const serial = typeof ctx.options.serial === 'string' ? await openSerial({ path: ctx.options.serial, baud }) : null;
    const input = serial ? serial.input : process.stdin;
    const output = serial ? serial.output : process.stdout;

    // 1. Bridge to the daemon's console when it is there (not for --socket: that serves its own).
    const daemon = acfg.socket && ctx.options.socket === undefined ? await tryConnect(acfg.socket) : null;
    if (daemon) {
      if (!serial && process.stdin.isTTY) process.stdin.setRawMode(true);
      input.pipe(daemon);
      daemon.pipe(output, { end: false });
      await new Promise<void>((resolve) => { daemon.once('close', () => resolve()); ctx.signal.addEventListener('abort', () => { daemon.destroy(); resolve(); }, { once: true }); });
      input.unpipe(daemon);
      if (!serial && process.stdin.isTTY) process.stdin.setRawMode(false);
      serial?.close();
      process.stdin.pause();
      return 0;
    }

    // 2. A console of this process over the state folder.
    const audit = createMemoryAudit({ capacity: 1_000 });
    const decider = new IndexDecider(null);
    // The policy store and trust root, when this gateway has one (a lab gateway with only a
    // policyFile has neither: then no bundle import and no grants).
    let store: PolicyStore | null = null;
    let trust: TrustStore | null = null;
    const rootFile = config.parts.trustRootFile;
    if (rootFile) {
      const blobs = await FsBlobStore.open({ dir: config.stateDir });
      trust = await TrustStore.open({ blobs, provisioned: new Uint8Array(await fsp.readFile(rootFile)) });
      store = new PolicyStore({ blobs, trust, device: config.device, site: config.site, now: Date.now, audit, activate: (i) => decider.setIndex(i) });
      await store.boot();
    }
    const access = await attachAccess({
      // The daemon's login page, serial line and socket are not this process's: login limits only.
      config: { device: config.device, site: config.site, stateDir: config.stateDir, console: { idleMs: acfg.idleMs, login: acfg.login, breakGlass: acfg.breakGlass } },
      now: Date.now, audit, recentAudit: (n) => audit.recent(n), decider,
      status: () => {
        const s = store?.status();
        return {
          device: config.device, site: config.site, state: 'console without the daemon',
          policy: s ? { version: s.active?.policyVersion ?? null, expiresAt: s.active?.expiresAt ?? null, state: s.state } : { version: null, state: 'no trust root configured', warning: config.policyFile ? `unsigned policy file ${config.policyFile} (lab)` : null },
          listeners: config.listeners.map((l) => ({ listen: listenLabel(l), asset: l.asset, service: l.service, state: 'configured (daemon not reachable)' })),
          alarms: (s?.alarms ?? []).map((a) => ({ severity: 'warning', message: a.message })),
          fleet: null,
        };
      },
      trustRoot: trust ? () => trust!.current() : undefined,
      importBundle: store ? async (bytes) => {
        const r = await store!.accept(bytes, { source: 'import' });
        const pid = await signalDaemon(config.stateDir);
        return `policy ${r.active.policyVersion} ${r.outcome}${pid !== null ? ` (gateway pid ${pid} told to reload)` : ''}`;
      } : undefined,
      policyDenyAll: () => store?.status().state === 'expired-deny-all',
      log: { info: (m) => ctx.err(m), warn: (m) => ctx.err(m), error: (m) => ctx.err(m) },
    });
    const cfgNoListeners = { ...access.consoleDeps };
    if (typeof ctx.options.socket === 'string') {
      const sock = await listenConsoleSocket({ path: ctx.options.socket, deps: cfgNoListeners, idleMs: acfg.idleMs });
      ctx.err(`console socket ${ctx.options.socket}`);
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      await sock.close();
      return 0;
    }
    const tty = !serial && process.stdin.isTTY === true;
    if (tty) process.stdin.setRawMode(true);
    const h = runConsole({ input, output, deps: cfgNoListeners, where: serial ? String(ctx.options.serial) : 'stdin', echo: serial !== null || tty, idleMs: acfg.idleMs, persistent: serial !== null || tty });
    ctx.signal.addEventListener('abort', () => h.close(), { once: true });
    await h.done;
    if (tty) process.stdin.setRawMode(false);
    serial?.close();
    process.stdin.pause();
    return 0;
  },
};
