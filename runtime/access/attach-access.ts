/**
 * The one integration point of people-facing access for the composition root (runtime/gateway.ts):
 * local users and login throttling, the edge session table, grants, the local quarantine,
 * break-glass, the console (serial line and/or unix socket) and the login page, built from the
 * gateway's parts through small provider functions. attachAccess() opens the state (users,
 * grants, quarantine, box key); start() binds the login page and the consoles and starts the
 * sweep; stop() undoes it.
 *
 * Drivers are handed `access.decider` (runtime/auth/session-decider.ts) in place of the
 * IndexDecider: it passes session facts (edge login, identity, grants) to the policy at connect,
 * re-decides live connections when sessions, grants or the quarantine change, and refuses locally
 * quarantined ids. `onSessionChange` is told every change (the gateway re-emits it on its bus and
 * calls each TCP conduit's recheck(), so connections that depended on a session close).
 */
import type { AuditEvent, AuditSink } from '../../drivers/types';
import type { SessionFacts } from '../../policy/types';
import type { TrustRoot } from '../../policy/bundle/types';
import { FsBlobStore } from '../store/fs-blob-store';
import { createSemaphore, type Semaphore } from '../../protocol/web/semaphore';
import { UserStore } from '../auth/user-store';
import { createAuthenticator, type Authenticator } from '../auth/authenticator';
import { createSessionTable, type SessionChange, type SessionTable } from '../auth/sessions';
import { createSessionDecider, type InnerDecider, type SessionDecider } from '../auth/session-decider';
import { acceptBundleUsers } from '../auth/bundle-users';
import { loadOrCreateBoxKey } from '../auth/box-key';
import type { AccessConfig } from '../config/access';
import { GrantStore, type AcceptGrantResult } from '../grants/grant-store';
import { openLocalQuarantine, type LocalQuarantine } from '../console/local-quarantine';
import { createBreakGlass, type BreakGlass, type BreakGlassState } from '../console/break-glass';
import type { ConsoleDeps, ConsoleStatus } from '../console/deps';
import { runConsole, type ConsoleHandle } from '../console/shell';
import { openSerial, type SerialPort } from '../console/serial';
import { listenConsoleSocket, type ConsoleSocket } from '../console/socket';
import { createLoginServer, type LoginServer } from '../web/login-server';
import { ensureCertificate } from '../web/cert';

/** What the gateway is told (and re-emits on its bus as `session-changed`). */
export type AccessChange = SessionChange | { kind: 'quarantine' } | { kind: 'break-glass'; state: BreakGlassState | null };

/** What attachAccess needs of the gateway ("gateway-like"). */
export interface AccessDeps {
  /** `console`: the config's console block as read at load (runtime/config/access.ts). */
  config: { device: string; site: string; stateDir: string; console: AccessConfig };
  now: () => number;
  /** The gateway's audit sink (delegate: gateway.audit may be replaced on reload). */
  audit: AuditSink;
  /** The audit ring's most recent events, oldest first (gateway.audit.recent). */
  recentAudit: (limit: number) => AuditEvent[];
  /** The IndexDecider (policy/decider.ts). */
  decider: InnerDecider & { isExpired: boolean; setExpired(expired: boolean): void };
  /** The console's `status` view (adapt gateway.status()). */
  status: () => ConsoleStatus;
  /** The current trust root (PolicyStore's TrustStore.current); without it grants are refused. */
  trustRoot?: () => TrustRoot;
  /** PolicyStore.accept for `bundle import`, returning a one-line outcome. */
  importBundle?: (bytes: Uint8Array) => Promise<string>;
  /** Whether the active policy expired into deny-all (PolicyStore status state 'expired-deny-all'). */
  policyDenyAll?: () => boolean;
  policyShow?: () => string[];
  explain?: (request: unknown) => string[];
  exportAudit?: (path: string) => Promise<number>;
  /** Told of every session/grant/quarantine/break-glass change; the gateway re-checks TCP conduits here. */
  onSessionChange?: (change: AccessChange) => void;
  log: { info(m: string): void; warn(m: string): void; error(m: string): void };
  /** The argon2 work cap shared by console and web (default from config: 1 at a time, cooldown 1). */
  limiter?: Semaphore;
}

export interface Access {
  readonly config: AccessConfig;
  /** Hand this to createModbusProxy / createTcpConduit instead of the IndexDecider. */
  readonly decider: SessionDecider;
  /** For createModbusProxy's `session` option (the decider already applies it; both agree). */
  sessionFacts(sourceIp: string): SessionFacts | undefined;
  /** The MQTT sync's handler for grant bundles (raw bytes). */
  acceptGrant(bytes: Uint8Array): Promise<AcceptGrantResult>;
  /** Applies a signed `users` list (from a verified command bundle's payload). */
  acceptUsers(list: unknown): Promise<number>;
  readonly auth: Authenticator;
  readonly users: UserStore;
  readonly sessions: SessionTable;
  readonly grants: GrantStore | null;
  readonly quarantine: LocalQuarantine;
  readonly breakGlass: BreakGlass;
  readonly consoleDeps: ConsoleDeps;
  /** The login page's URL once started (undefined: none). */
  readonly webUrl: string | undefined;
  /** For gateway.status(): sessions, grants, break-glass, login page. */
  status(): AccessStatus;
  /** SIGHUP: re-read users (the `zonegate user` CLI changed them). */
  reload(): Promise<void>;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

export interface AccessStatus {
  sessions: { user: string; sourceIp: string; via: string; expiresAt: number }[];
  grants: { id: string; identity: string; state: string; until: number }[];
  breakGlass: BreakGlassState | null;
  web: string | null;
  login: { hashing: number; queued: number; rejected: number };
}

/** Opens the access parts over the config's stateDir; throws ERR_STORAGE. */
export async function attachAccess(deps: AccessDeps): Promise<Access> {
  const cfg = deps.config.console;
  const parts = await openParts(deps, cfg);
  const consoleDeps = consoleDepsOf(deps, parts);
  const endpoints = new Endpoints(deps, cfg, parts, consoleDeps);
  const { limiter, users, auth, sessions, grants, quarantine, breakGlass, box, decider } = parts;
  const { now, audit } = deps;
  const access: Access = {
    config: cfg, decider, auth, users, sessions, grants, quarantine, breakGlass, consoleDeps,
    get webUrl() { return endpoints.webUrl; },
    sessionFacts: (ip) => sessions.facts(ip),
    acceptGrant(bytes) {
      if (!grants) return Promise.reject(new TypeError('grants need a trust root (config trustRoot)'));
      return grants.accept(bytes, { source: 'mqtt' });
    },
    async acceptUsers(list) {
      const records = acceptBundleUsers({ list, boxSecretKey: box.secretKey, now: now() });
      const dropped = users.list().filter((u) => u.origin === 'bundle' && !records.some((r) => r.name === u.name)).map((u) => u.name);
      await users.replaceBundleUsers(records);
      for (const name of dropped) sessions.endUser(name, 'user-removed');
      audit.record({ kind: 'auth', at: now(), source: 'bundle', message: 'users from bundle applied', detail: { users: records.map((r) => r.name) } });
      return records.length;
    },
    status() {
      const st = limiter.stats();
      return {
        sessions: sessions.list().map((s) => ({ user: s.user, sourceIp: s.sourceIp, via: s.via, expiresAt: s.expiresAt })),
        grants: (grants?.list() ?? []).map((g) => ({ id: g.id, identity: g.identity, state: g.state, until: g.until })),
        breakGlass: breakGlass.active(),
        web: endpoints.webUrl ?? null,
        login: { hashing: st.active, queued: st.queued, rejected: st.rejected },
      };
    },
    async reload() {
      await users.reload();
      for (const s of sessions.list()) if (auth.roleOf(s.user) === undefined && s.via === 'web') sessions.end(s.id, 'user-removed');
    },
    start: (signal) => endpoints.start(signal, () => { void access.stop(); }),
    stop: () => endpoints.stop(),
  };
  return access;
}

/** The state access keeps (users, sessions, grants, quarantine, break-glass, box key) and what decides with it. */
interface Parts {
  limiter: Semaphore;
  users: UserStore;
  auth: Authenticator;
  sessions: SessionTable;
  grants: GrantStore | null;
  quarantine: LocalQuarantine;
  breakGlass: BreakGlass;
  box: Awaited<ReturnType<typeof loadOrCreateBoxKey>>;
  decider: SessionDecider;
}

// Opens the stores over the state folder and wires them: sessions ask grants, grants and the quarantine tell sessions.
async function openParts(deps: AccessDeps, cfg: AccessConfig): Promise<Parts> {
  const { now, audit } = deps;
  const blobs = await FsBlobStore.open({ dir: deps.config.stateDir });
  const limiter = deps.limiter ?? createSemaphore({ limit: cfg.login.hashConcurrency, maxQueued: 64, cooldownFactor: cfg.login.hashCooldown });
  const users = await UserStore.open({ blobs });
  const auth = createAuthenticator({ users, limiter, audit, now, throttle: { lockAfter: cfg.login.lockAfter, baseDelayMs: cfg.login.delayMs, maxDelayMs: cfg.login.maxDelayMs } });
  const tell: NonNullable<AccessDeps['onSessionChange']> = (c) => { try { deps.onSessionChange?.(c); } catch (e) { deps.log.error(`session change handler failed: ${(e as Error).message}`); } };
  let grants: GrantStore | null = null;
  const sessions = createSessionTable({
    now, audit, ttlMs: cfg.web?.sessionMs,
    grants: (identity, ip, t) => grants?.conduitsFor(identity, ip, t),
    onChange: tell,
  });
  if (deps.trustRoot) {
    grants = await GrantStore.open({
      blobs, trustRoot: deps.trustRoot, device: deps.config.device, site: deps.config.site, now, audit,
      onChange: () => sessions.grantsChanged(),
    });
  }
  let quarantineGen = 0;
  const quarantine = await openLocalQuarantine({ blobs, audit, now, onChange: () => { quarantineGen += 1; tell({ kind: 'quarantine' }); } });
  const breakGlass = createBreakGlass({
    now, audit, sessions, expiry: { isExpired: () => deps.decider.isExpired, setExpired: (b) => deps.decider.setExpired(b) },
    policyDenyAll: deps.policyDenyAll, maxMinutes: cfg.breakGlass.maxMinutes,
    onChange: (state) => tell({ kind: 'break-glass', state }),
  });
  const box = await loadOrCreateBoxKey(blobs);
  const decider = createSessionDecider({
    inner: deps.decider, facts: (ip) => sessions.facts(ip), generation: () => sessions.generation + quarantineGen,
    quarantined: (id) => quarantine.has(id),
  });
  return { limiter, users, auth, sessions, grants, quarantine, breakGlass, box, decider };
}

// What the consoles (serial, socket, `zonegate console`) may see and do.
function consoleDepsOf(deps: AccessDeps, p: Parts): ConsoleDeps {
  const { sessions } = p;
  return {
    device: deps.config.device, now: deps.now, audit: deps.audit, auth: p.auth,
    status: () => {
      const s = deps.status();
      return { ...s, sessions: sessions.list().map((x) => ({ user: x.user, sourceIp: x.sourceIp, expiresAt: x.expiresAt, via: x.via })) };
    },
    recentAudit: deps.recentAudit,
    policyShow: deps.policyShow, explain: deps.explain, importBundle: deps.importBundle, exportAudit: deps.exportAudit,
    grants: p.grants ?? undefined, quarantine: p.quarantine, breakGlass: p.breakGlass, users: p.users,
    endUserSessions: (u) => sessions.endUser(u, 'revoked'),
  };
}

/** What access binds and runs while started: the login page, the console socket and serial line, the sweep. */
class Endpoints {
  webUrl: string | undefined;
  private server: LoginServer | null = null;
  private serial: SerialPort | null = null;
  private serialConsole: ConsoleHandle | null = null;
  private socket: ConsoleSocket | null = null;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: AccessDeps, private readonly cfg: AccessConfig, private readonly parts: Parts, private readonly consoleDeps: ConsoleDeps) {}

  async start(signal: AbortSignal, onAbort: () => void): Promise<void> {
    const { cfg, deps, consoleDeps } = this;
    if (cfg.web) await this.startLoginPage(cfg.web);
    if (cfg.socket) {
      this.socket = await listenConsoleSocket({ path: cfg.socket, deps: consoleDeps, idleMs: cfg.idleMs });
      deps.log.info(`console socket ${cfg.socket}`);
    }
    if (cfg.serial) {
      this.serial = await openSerial({ path: cfg.serial.device, baud: cfg.serial.baud });
      this.serialConsole = runConsole({ input: this.serial.input, output: this.serial.output, deps: consoleDeps, where: cfg.serial.device, idleMs: cfg.idleMs, persistent: true });
      deps.log.info(`console on ${cfg.serial.device} at ${cfg.serial.baud} baud`);
    }
    const { sessions, breakGlass, grants } = this.parts;
    this.sweepTimer = setInterval(() => {
      sessions.sweep();
      breakGlass.tick();
      void grants?.sweep().catch((e: unknown) => deps.log.error(`grant sweep failed: ${(e as Error).message}`));
    }, 1_000);
    this.sweepTimer.unref();
    signal.addEventListener('abort', onAbort, { once: true });
  }

  private async startLoginPage(web: NonNullable<AccessConfig['web']>): Promise<void> {
    const { deps } = this;
    const { auth, sessions, grants } = this.parts;
    const cert = await ensureCertificate({ stateDir: deps.config.stateDir, device: deps.config.device, host: web.listen.host, certFile: web.cert, keyFile: web.key });
    if (cert?.created) deps.log.info(`made a self-signed certificate for the login page (SHA-256 ${cert.fingerprint})`);
    const server = createLoginServer({
      listen: web.listen, tls: cert ? { cert: cert.cert, key: cert.key } : null, device: deps.config.device, auth, sessions,
      grantsOf: (identity, ip) => grants?.conduitsFor(identity, ip, deps.now()), log: deps.log,
    });
    this.server = server;
    await server.start();
    const a = server.address();
    this.webUrl = `${server.scheme}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`;
    deps.log.info(`login page on ${this.webUrl}`);
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.serialConsole?.close();
    this.serial?.close();
    this.serialConsole = null; this.serial = null;
    await this.socket?.close();
    this.socket = null;
    await this.server?.stop();
    this.server = null;
  }
}
