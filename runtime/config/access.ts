/**
 * The gateway config's `console:` block, read once when the config is loaded (config/blocks.ts)
 * into the AccessConfig that the access part (runtime/access/attach-access.ts), the console
 * command and the nftables facts receive:
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
 * Paths are relative to the config file's folder. Every problem is one issue at `console.…`.
 */
import { resolve } from 'node:path';
import type { IssueList, Path } from '../../policy/check';
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
  login: Object.freeze({ lockAfter: 10, delayMs: 1_000, maxDelayMs: 60_000, hashConcurrency: 1, hashCooldown: 3 }),
  breakGlass: Object.freeze({ maxMinutes: 240 }),
});

/** A fresh copy of the defaults (no serial line, socket or login page): a config without `console:`. */
export function defaultAccessConfig(): AccessConfig {
  return { idleMs: DEFAULT_ACCESS_CONFIG.idleMs, login: { ...DEFAULT_ACCESS_CONFIG.login }, breakGlass: { ...DEFAULT_ACCESS_CONFIG.breakGlass } };
}

const ROOT_KEYS = ['idleMinutes', 'serial', 'socket', 'web', 'login', 'breakGlass'];

/** The field readers of the block, each adding its problems to `out` at `console.…`. */
class Fields {
  constructor(private readonly out: IssueList) {}
  add(path: Path, message: string): void { this.out.add(['console', ...path], message); }
  map(v: unknown, path: Path, keys: readonly string[]): Record<string, unknown> | undefined {
    if (v === undefined) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) { this.add(path, 'must be a mapping'); return undefined; }
    for (const k of Object.keys(v)) if (!keys.includes(k)) this.add([...path, k], `unknown setting (known: ${keys.join(', ')})`);
    return v as Record<string, unknown>;
  }
  int(v: unknown, path: Path, min: number, max: number): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) { this.add(path, `must be a whole number from ${min} to ${max}`); return undefined; }
    return v;
  }
  str(v: unknown, path: Path): string | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') { this.add(path, 'must be a non-empty string'); return undefined; }
    return v;
  }
}

/**
 * Reads the `console:` mapping (undefined: the defaults) with paths resolved against `dir`;
 * problems go to `out` (the config's issue list, which adds file, line and column).
 */
export function readAccessConfig(block: Record<string, unknown> | undefined, dir: string, out: IssueList): AccessConfig {
  const cfg = defaultAccessConfig();
  if (!block) return cfg;
  const f = new Fields(out);
  const root = f.map(block, [], ROOT_KEYS) ?? {};
  const idle = f.int(root.idleMinutes, ['idleMinutes'], 1, 1440);
  if (idle !== undefined) cfg.idleMs = idle * 60_000;
  const serial = readSerialLine(f, root.serial);
  if (serial) cfg.serial = serial;
  const socket = f.str(root.socket, ['socket']);
  if (socket) cfg.socket = resolve(dir, socket);
  const web = readWeb(f, root.web, dir);
  if (web) cfg.web = web;
  readLogin(f, root.login, cfg.login);
  const bg = f.map(root.breakGlass, ['breakGlass'], ['maxMinutes']);
  if (bg) cfg.breakGlass.maxMinutes = f.int(bg.maxMinutes, ['breakGlass', 'maxMinutes'], 1, 1440) ?? cfg.breakGlass.maxMinutes;
  return cfg;
}

// `serial: { device, baud? }`: the daemon's console line.
function readSerialLine(f: Fields, v: unknown): AccessConfig['serial'] {
  const serial = f.map(v, ['serial'], ['device', 'baud']);
  if (!serial) return undefined;
  const device = f.str(serial.device, ['serial', 'device']);
  if (serial.device === undefined) f.add(['serial', 'device'], 'required (e.g. /dev/ttyS0)');
  const baud = f.int(serial.baud, ['serial', 'baud'], 1200, 230400) ?? 115200;
  return device ? { device, baud } : undefined;
}

// `web: { listen, cert?, key?, sessionMinutes? }`: the login page.
function readWeb(f: Fields, v: unknown, dir: string): AccessConfig['web'] {
  const web = f.map(v, ['web'], ['listen', 'cert', 'key', 'sessionMinutes']);
  if (!web) return undefined;
  const listenText = f.str(web.listen, ['web', 'listen']);
  if (web.listen === undefined) f.add(['web', 'listen'], 'required (ADDRESS:PORT on the management interface)');
  const cert = f.str(web.cert, ['web', 'cert']), key = f.str(web.key, ['web', 'key']);
  if ((cert === undefined) !== (key === undefined)) f.add(['web'], 'give both cert and key, or neither (a self-signed certificate is made)');
  const minutes = f.int(web.sessionMinutes, ['web', 'sessionMinutes'], 1, 1440) ?? 480;
  if (!listenText) return undefined;
  const hp = parseHostPort(listenText, { allowName: false, allowZero: true });
  if ('error' in hp) { f.add(['web', 'listen'], hp.error); return undefined; }
  return { listen: hp, sessionMs: minutes * 60_000, ...(cert ? { cert: resolve(dir, cert) } : {}), ...(key ? { key: resolve(dir, key) } : {}) };
}

// `login: { lockAfter?, delayMs?, maxDelayMs?, hashConcurrency?, hashCooldown? }`: throttling and the argon2 duty cycle.
function readLogin(f: Fields, v: unknown, login: AccessConfig['login']): void {
  const rec = f.map(v, ['login'], ['lockAfter', 'delayMs', 'maxDelayMs', 'hashConcurrency', 'hashCooldown']);
  if (!rec) return;
  login.lockAfter = f.int(rec.lockAfter, ['login', 'lockAfter'], 1, 1000) ?? login.lockAfter;
  login.delayMs = f.int(rec.delayMs, ['login', 'delayMs'], 0, 600_000) ?? login.delayMs;
  login.maxDelayMs = f.int(rec.maxDelayMs, ['login', 'maxDelayMs'], 0, 3_600_000) ?? login.maxDelayMs;
  login.hashConcurrency = f.int(rec.hashConcurrency, ['login', 'hashConcurrency'], 1, 8) ?? login.hashConcurrency;
  login.hashCooldown = f.int(rec.hashCooldown, ['login', 'hashCooldown'], 0, 10) ?? login.hashCooldown;
}
