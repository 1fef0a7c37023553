/**
 * The gateway config's `console:` block (runtime/config.ts reserves it as a mapping):
 *
 *   console:
 *     idleMinutes: 10                 # console sessions log out after this long without input
 *     serial: { device: /dev/ttyS0, baud: 115200 }   # the daemon keeps a console on this line
 *     socket: /run/zonegate/console.sock            # the daemon's console socket (`zonegate console` bridges to it)
 *     web:                            # the login page (edge authentication); absent: no login page
 *       listen: 192.168.10.1:8443
 *       cert: web-cert.pem            # optional provisioned certificate and key; default: made on first start
 *       key: web-key.pem
 *       sessionMinutes: 480
 *     login: { lockAfter: 10, delayMs: 1000, maxDelayMs: 60000, hashConcurrency: 1, hashCooldown: 3 }
 *     breakGlass: { maxMinutes: 240 }
 *
 * Paths are relative to the config file's folder. Every problem is one issue of one
 * ERR_CONFIG_INVALID error, path `console.…`.
 */
import { resolve } from 'node:path';
import { ZonegateError, type Issue } from '../../policy/errors';
import { parseHostPort, type HostPort } from '../../protocol/host-port';

export interface AccessConfig {
  idleMs: number;
  serial?: { device: string; baud: number };
  socket?: string;
  web?: { listen: HostPort; cert?: string; key?: string; sessionMs: number };
  /** hashConcurrency: argon2 runs at once; hashCooldown: rest after each, as a multiple of its duration (CPU duty cycle). */
  login: { lockAfter: number; delayMs: number; maxDelayMs: number; hashConcurrency: number; hashCooldown: number };
  breakGlass: { maxMinutes: number };
}

export const DEFAULT_ACCESS_CONFIG: Readonly<AccessConfig> = Object.freeze({
  idleMs: 600_000,
  login: { lockAfter: 10, delayMs: 1_000, maxDelayMs: 60_000, hashConcurrency: 1, hashCooldown: 3 },
  breakGlass: { maxMinutes: 240 },
});

/** Reads the block (undefined: defaults, no serial, socket or web). */
export function parseAccessConfig(block: Record<string, unknown> | undefined, opts: { file: string; dir: string }): AccessConfig {
  const issues: Issue[] = [];
  const add = (path: string, message: string) => issues.push({ file: opts.file, path: `console.${path}`, message });
  const cfg: AccessConfig = { ...DEFAULT_ACCESS_CONFIG, login: { ...DEFAULT_ACCESS_CONFIG.login }, breakGlass: { ...DEFAULT_ACCESS_CONFIG.breakGlass } };
  if (!block) return cfg;
  const map = (v: unknown, path: string, keys: string[]): Record<string, unknown> | undefined => {
    if (v === undefined) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) { add(path, 'must be a mapping'); return undefined; }
    for (const k of Object.keys(v)) if (!keys.includes(k)) add(`${path}.${k}`.replace(/^\./, ''), `unknown setting (known: ${keys.join(', ')})`);
    return v as Record<string, unknown>;
  };
  const int = (v: unknown, path: string, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) { add(path, `must be a whole number from ${min} to ${max}`); return undefined; }
    return v;
  };
  const str = (v: unknown, path: string): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') { add(path, 'must be a non-empty string'); return undefined; }
    return v;
  };
  const root = map(block, '', ['idleMinutes', 'serial', 'socket', 'web', 'login', 'breakGlass']) ?? {};
  const idle = int(root.idleMinutes, 'idleMinutes', 1, 1440);
  if (idle !== undefined) cfg.idleMs = idle * 60_000;
  const serial = map(root.serial, 'serial', ['device', 'baud']);
  if (serial) {
    const device = str(serial.device, 'serial.device');
    if (serial.device === undefined) add('serial.device', "required (e.g. /dev/ttyS0)");
    const baud = int(serial.baud, 'serial.baud', 1200, 230400) ?? 115200;
    if (device) cfg.serial = { device, baud };
  }
  const socket = str(root.socket, 'socket');
  if (socket) cfg.socket = resolve(opts.dir, socket);
  const web = map(root.web, 'web', ['listen', 'cert', 'key', 'sessionMinutes']);
  if (web) {
    const listenText = str(web.listen, 'web.listen');
    if (web.listen === undefined) add('web.listen', 'required (ADDRESS:PORT on the management interface)');
    const cert = str(web.cert, 'web.cert'), key = str(web.key, 'web.key');
    if ((cert === undefined) !== (key === undefined)) add('web', 'give both cert and key, or neither (a self-signed certificate is made)');
    const minutes = int(web.sessionMinutes, 'web.sessionMinutes', 1, 1440) ?? 480;
    if (listenText) {
      const hp = parseHostPort(listenText, { allowName: false, allowZero: true });
      if ('error' in hp) add('web.listen', hp.error);
      else cfg.web = { listen: hp, sessionMs: minutes * 60_000, ...(cert ? { cert: resolve(opts.dir, cert) } : {}), ...(key ? { key: resolve(opts.dir, key) } : {}) };
    }
  }
  const login = map(root.login, 'login', ['lockAfter', 'delayMs', 'maxDelayMs', 'hashConcurrency', 'hashCooldown']);
  if (login) {
    cfg.login.lockAfter = int(login.lockAfter, 'login.lockAfter', 1, 1000) ?? cfg.login.lockAfter;
    cfg.login.delayMs = int(login.delayMs, 'login.delayMs', 0, 600_000) ?? cfg.login.delayMs;
    cfg.login.maxDelayMs = int(login.maxDelayMs, 'login.maxDelayMs', 0, 3_600_000) ?? cfg.login.maxDelayMs;
    cfg.login.hashConcurrency = int(login.hashConcurrency, 'login.hashConcurrency', 1, 8) ?? cfg.login.hashConcurrency;
    cfg.login.hashCooldown = int(login.hashCooldown, 'login.hashCooldown', 0, 10) ?? cfg.login.hashCooldown;
  }
  const bg = map(root.breakGlass, 'breakGlass', ['maxMinutes']);
  if (bg) cfg.breakGlass.maxMinutes = int(bg.maxMinutes, 'breakGlass.maxMinutes', 1, 1440) ?? cfg.breakGlass.maxMinutes;
  if (issues.length) throw new ZonegateError('ERR_CONFIG_INVALID', `invalid console settings in ${opts.file}: ${issues.length} problem(s)`, { issues });
  return cfg;
}
