/**
 * The console's commands, one table (name, least role, usage, help, run). Roles: viewer reads,
 * operator imports bundles and exports audit logs, admin revokes grants, quarantines, unlocks
 * users and breaks glass. Every command answers `help CMD`.
 */
import { promises as fsp } from 'node:fs';
import { ZonegateError } from '../../policy/errors';
import { DEFAULT_MAX_BUNDLE_BYTES } from '../../policy/bundle/types';
import type { AuditEvent } from '../../drivers/types';
import type { Role } from '../auth/types';
import type { ConsoleDeps } from './deps';

export interface CommandContext {
  /** Words after the command's own words. */
  args: string[];
  /** The raw text after the command's words (JSON arguments). */
  rest: string;
  user: { name: string; role: Role };
  deps: ConsoleDeps;
  print(line: string): void;
  history: readonly string[];
  /** Ends the console session (logout). */
  logout(): void;
}

export interface ConsoleCommand {
  words: string[];
  role: Role;
  usage: string;
  help: string;
  run(ctx: CommandContext): Promise<void> | void;
}

/** Replaces control characters (terminal escapes in untrusted text) with '?'. */
export function sanitize(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '?');
}

const iso = (t: number | null | undefined) => (typeof t === 'number' ? new Date(t).toISOString() : 'n/a');
const countArg = (a: string | undefined, dflt: number) => {
  if (a === undefined) return dflt;
  const n = Number(a);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new ZonegateError('ERR_USAGE', 'N must be a whole number from 1 to 1000');
  return n;
};
const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new ZonegateError('ERR_USAGE', `${what} is not available on this gateway`);
  return v;
};

/** One audit event as one console line. */
export function formatEvent(e: AuditEvent): string {
  const d = e.decision;
  const parts = [iso(e.at), e.kind, e.source];
  if (e.src) parts.push(`src=${e.src}${e.srcPort ? `:${e.srcPort}` : ''}`);
  if (e.asset) parts.push(`asset=${e.asset}${e.port ? `:${e.port}` : ''}`);
  if (d) parts.push(`${d.decision}${d.conduit ? ` conduit=${d.conduit}` : ''}${d.reason ? ` reason=${d.reason}` : ''}${d.identity ? ` identity=${d.identity}` : ''}`);
  if (e.modbus) parts.push(`fc=${e.modbus.function} unit=${e.modbus.unit} addr=${e.modbus.address} count=${e.modbus.count}`);
  if (e.message) parts.push(e.message);
  if (e.detail && (e.kind === 'auth' || e.kind === 'grant' || e.kind === 'break-glass' || e.kind === 'quarantine')) {
    const u = (e.detail as { user?: unknown }).user ?? (e.detail as { id?: unknown }).id;
    if (u !== undefined) parts.push(`(${String(u)})`);
  }
  return sanitize(parts.join(' '));
}

async function readFileCapped(path: string): Promise<Uint8Array> {
  let st;
  try { st = await fsp.stat(path); } catch (e) { throw new ZonegateError('ERR_USAGE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  if (!st.isFile()) throw new ZonegateError('ERR_USAGE', `${path} is not a file`);
  if (st.size > DEFAULT_MAX_BUNDLE_BYTES) throw new ZonegateError('ERR_BUNDLE_SIZE', `${path} is ${st.size} bytes, over the ${DEFAULT_MAX_BUNDLE_BYTES}-byte bundle limit`);
  return new Uint8Array(await fsp.readFile(path));
}

/** Every command, in help order. */
export const COMMANDS: readonly ConsoleCommand[] = [
  {
    words: ['help'], role: 'viewer', usage: 'help [COMMAND]', help: 'lists the commands your role may use, or explains one',
    run: () => undefined, // handled by the shell (it knows the table and the role)
  },
  {
    words: ['status'], role: 'viewer', usage: 'status', help: 'policy version and expiry, listeners, alarms, fleet link, edge sessions, break-glass',
    run({ deps, print }) {
      const s = deps.status();
      const bg = deps.breakGlass?.active();
      if (bg) print(`!!! BREAK-GLASS ACTIVE by ${bg.user} until ${iso(bg.endsAt)}: ${sanitize(bg.reason)}${bg.sourceIp ? ` (source ${bg.sourceIp})` : ''}`);
      print(`device ${s.device ?? deps.device}${s.site ? ` at ${s.site}` : ''}${s.state ? `, ${s.state}` : ''}`);
      print(`policy ${s.policy.version ?? 'none (deny all)'}${s.policy.state ? ` [${s.policy.state}]` : ''}, expires ${iso(s.policy.expiresAt)}`);
      if (s.policy.warning) print(`  warning: ${sanitize(s.policy.warning)}`);
      print(`listeners (${s.listeners.length}):`);
      for (const l of s.listeners) print(`  ${l.address ?? l.listen} ${l.service} → ${l.asset} ${l.state}${l.error ? ` (${sanitize(l.error)})` : ''}`);
      print(`alarms (${s.alarms.length}):`);
      for (const a of s.alarms) print(`  ${a.severity}: ${sanitize(a.message)}`);
      print(`fleet link: ${s.fleet ? `${s.fleet.state}${s.fleet.detail ? ` (${sanitize(s.fleet.detail)})` : ''}` : 'not configured'}`);
      if (s.sessions) {
        print(`edge sessions (${s.sessions.length}):`);
        for (const x of s.sessions) print(`  ${x.user} from ${x.sourceIp} via ${x.via} until ${iso(x.expiresAt)}`);
      }
    },
  },
  {
    words: ['policy', 'show'], role: 'viewer', usage: 'policy show', help: 'summarises the active policy: zones, assets, identities, conduits',
    run({ deps, print }) { for (const l of need(deps.policyShow, 'policy show')()) print(sanitize(l)); },
  },
  {
    words: ['policy', 'explain'], role: 'viewer', usage: 'policy explain {"from":"hmi-1","to":"plc-1","modbus":{"function":3,"unit":1,"address":0}}',
    help: 'explains how the active policy decides a request (JSON as in `zonegate policy explain --request`)',
    run({ deps, rest, print }) {
      if (rest.trim() === '') throw new ZonegateError('ERR_USAGE', 'give the request as JSON');
      let req: unknown;
      try { req = JSON.parse(rest, (k, v) => (k === '__proto__' ? undefined : v)); } catch (e) { throw new ZonegateError('ERR_REQUEST_INVALID', `request is not JSON: ${(e as Error).message}`); }
      for (const l of need(deps.explain, 'policy explain')(req)) print(sanitize(l));
    },
  },
  {
    words: ['denials'], role: 'viewer', usage: 'denials [N]', help: 'the N (default 20) most recent refusals (denied decisions, malformed frames)',
    run({ deps, args, print }) {
      const n = countArg(args[0], 20);
      const ev = deps.recentAudit(10_000).filter((e) => (e.kind === 'decision' && e.decision?.decision === 'deny') || e.kind === 'malformed').slice(-n);
      if (ev.length === 0) print('no refusals recorded');
      for (const e of ev) print(formatEvent(e));
    },
  },
  {
    words: ['audit', 'tail'], role: 'viewer', usage: 'audit tail [N]', help: 'the N (default 20) most recent audit records',
    run({ deps, args, print }) { for (const e of deps.recentAudit(countArg(args[0], 20))) print(formatEvent(e)); },
  },
  {
    words: ['audit', 'export'], role: 'operator', usage: 'audit export PATH', help: 'writes the audit records to a new file (e.g. on a USB stick); never overwrites',
    async run({ deps, args, print, user }) {
      if (args.length !== 1) throw new ZonegateError('ERR_USAGE', 'usage: audit export PATH');
      const path = args[0];
      let n: number;
      if (deps.exportAudit) n = await deps.exportAudit(path);
      else {
        const ev = deps.recentAudit(1_000_000);
        try { await fsp.writeFile(path, ev.map((e) => JSON.stringify(e)).join('\n') + (ev.length ? '\n' : ''), { flag: 'wx', mode: 0o600 }); } catch (e) {
          throw new ZonegateError('ERR_USAGE', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        n = ev.length;
      }
      deps.audit.record({ kind: 'config', at: deps.now(), source: 'console', message: 'audit exported', detail: { user: user.name, path, records: n } });
      print(`wrote ${n} audit record(s) to ${path}`);
    },
  },
  {
    words: ['bundle', 'import'], role: 'operator', usage: 'bundle import PATH', help: 'verifies a signed policy bundle (e.g. from a USB stick) and activates it if it passes every check',
    async run({ deps, args, print }) {
      if (args.length !== 1) throw new ZonegateError('ERR_USAGE', 'usage: bundle import PATH');
      print(sanitize(await need(deps.importBundle, 'bundle import')(await readFileCapped(args[0]))));
    },
  },
  {
    words: ['grant', 'list'], role: 'viewer', usage: 'grant list', help: 'the grants this gateway holds: identity, conduits, window, state',
    run({ deps, print }) {
      const list = need(deps.grants, 'grants').list();
      if (list.length === 0) print('no grants');
      for (const g of list) print(sanitize(`${g.id} ${g.state} ${g.identity} → ${g.conduits.join(',')} ${iso(g.from)} .. ${iso(g.until)}${g.sourceIp ? ` from ${g.sourceIp}` : ''}${g.reason ? ` "${g.reason}"` : ''}`));
    },
  },
  {
    words: ['grant', 'import'], role: 'operator', usage: 'grant import PATH', help: 'verifies a signed grant bundle from a file (USB stick) and accepts it',
    async run({ deps, args, print }) {
      if (args.length !== 1) throw new ZonegateError('ERR_USAGE', 'usage: grant import PATH');
      const r = await need(deps.grants, 'grants').accept(await readFileCapped(args[0]), { source: 'import' });
      if (r.grant) print(sanitize(`grant ${r.grant.id} ${r.outcome}: ${r.grant.identity} → ${r.grant.conduits.join(',')} until ${iso(r.grant.until)}`));
      if (r.revoked.length) print(sanitize(`revoked: ${r.revoked.join(', ')}`));
      if (!r.grant && !r.revoked.length) print(r.outcome);
    },
  },
  {
    words: ['grant', 'revoke'], role: 'admin', usage: 'grant revoke ID', help: 'revokes a grant now; sessions using it lose it and it is refused if it arrives again',
    async run({ deps, args, print, user }) {
      if (args.length !== 1) throw new ZonegateError('ERR_USAGE', 'usage: grant revoke ID');
      const ok = await need(deps.grants, 'grants').revoke(args[0], { by: `console:${user.name}` });
      print(ok ? `grant ${sanitize(args[0])} revoked` : `grant ${sanitize(args[0])} was already revoked`);
    },
  },
  {
    words: ['quarantine', 'list'], role: 'viewer', usage: 'quarantine list', help: 'ids quarantined locally on this gateway',
    run({ deps, print }) {
      const l = need(deps.quarantine, 'quarantine').list();
      if (l.length === 0) print('nothing quarantined locally');
      for (const q of l) print(sanitize(`${q.id} since ${iso(q.at)} by ${q.by}${q.reason ? `: ${q.reason}` : ''}`));
    },
  },
  {
    words: ['quarantine', 'add'], role: 'admin', usage: 'quarantine add ID [REASON...]', help: 'cuts an asset or identity off on this gateway now (live connections too)',
    async run({ deps, args, print, user }) {
      if (args.length < 1) throw new ZonegateError('ERR_USAGE', 'usage: quarantine add ID [REASON...]');
      const ok = await need(deps.quarantine, 'quarantine').add(args[0], { by: `console:${user.name}`, reason: args.slice(1).join(' ') || undefined });
      print(ok ? `${sanitize(args[0])} quarantined` : `${sanitize(args[0])} was already quarantined`);
    },
  },
  {
    words: ['quarantine', 'remove'], role: 'admin', usage: 'quarantine remove ID', help: 'lifts a local quarantine',
    async run({ deps, args, print, user }) {
      if (args.length !== 1) throw new ZonegateError('ERR_USAGE', 'usage: quarantine remove ID');
      const ok = await need(deps.quarantine, 'quarantine').remove(args[0], { by: `console:${user.name}` });
      print(ok ? `${sanitize(args[0])} released` : `${sanitize(args[0])} was not quarantined locally`);
    },
  },
  {
    words: ['break-glass', 'end'], role: 'admin', usage: 'break-glass end', help: 'ends break-glass now',
    run({ deps, print, user }) { print(need(deps.breakGlass, 'break-glass').end({ by: user.name, why: 'ended' }) ? 'break-glass ended' : 'break-glass is not active'); },
  },
  {
    words: ['break-glass'], role: 'admin', usage: 'break-glass REASON... --minutes N [--source IP]',
    help: 'emergency, time-boxed (max 240 min), audited and shown in status: re-enforces the last verified policy if it expired into deny-all; with --source, treats that laptop as logged in as you with a grant for every grant-requiring conduit',
    run({ deps, args, print, user }) {
      const words: string[] = [];
      let minutes: number | undefined, source: string | undefined;
      for (let i = 0; i < args.length; i++) {
        if (args[i] === '--minutes') { minutes = Number(args[++i]); continue; }
        if (args[i] === '--source') { source = args[++i]; continue; }
        words.push(args[i]);
      }
      if (minutes === undefined || Number.isNaN(minutes)) throw new ZonegateError('ERR_USAGE', 'usage: break-glass REASON... --minutes N [--source IP]');
      const st = need(deps.breakGlass, 'break-glass').start({ user: user.name, role: user.role, reason: words.join(' '), minutes, sourceIp: source });
      print(`!!! BREAK-GLASS ACTIVE until ${iso(st.endsAt)}${st.sourceIp ? ` for ${st.sourceIp}` : ''}: every action is audited`);
    },
  },
  {
    words: ['user', 'unlock'], role: 'admin', usage: 'user unlock NAME', help: "clears a user's failed logins and lockout",
    async run({ deps, args, print, user }) {
      if (args.length !== 1) throw new ZonegateError('ERR_USAGE', 'usage: user unlock NAME');
      const ok = await need(deps.users, 'users').unlock(args[0]);
      deps.audit.record({ kind: 'auth', at: deps.now(), source: 'console', message: ok ? 'account unlocked' : 'unlock: nothing to clear', detail: { user: args[0], by: user.name } });
      print(ok ? `${sanitize(args[0])} unlocked` : `${sanitize(args[0])} was not locked`);
    },
  },
  {
    words: ['sessions'], role: 'viewer', usage: 'sessions', help: 'who is logged in on the login page (edge authentication), from where, until when',
    run({ deps, print }) {
      const list = deps.status().sessions ?? [];
      if (list.length === 0) print('no edge sessions');
      for (const x of list) print(sanitize(`${x.user} from ${x.sourceIp} via ${x.via} until ${iso(x.expiresAt)}`));
    },
  },
  {
    words: ['session', 'end'], role: 'admin', usage: 'session end USER', help: "ends a user's edge sessions now; connections that depended on them are re-decided",
    run({ deps, args, print }) {
      if (args.length !== 1) throw new ZonegateError('ERR_USAGE', 'usage: session end USER');
      const n = need(deps.endUserSessions, 'edge sessions')(args[0]);
      print(`${n} session(s) of ${sanitize(args[0])} ended`);
    },
  },
  {
    words: ['whoami'], role: 'viewer', usage: 'whoami', help: 'your user name and role',
    run({ user, print }) { print(`${user.name} (${user.role})`); },
  },
  {
    words: ['history'], role: 'viewer', usage: 'history', help: 'the commands of this session, numbered; !N runs number N again (arrow keys are not supported)',
    run({ history, print }) { history.forEach((h, i) => print(`${String(i + 1).padStart(4)}  ${sanitize(h)}`)); },
  },
  {
    words: ['logout'], role: 'viewer', usage: 'logout', help: 'ends this console session (also: exit, Ctrl-D)',
    run({ logout }) { logout(); },
  },
];

/** The command a line names (the longest match of its first words), with the rest. */
export function findCommand(line: string): { cmd: ConsoleCommand; args: string[]; rest: string } | undefined {
  const trimmed = line.trim();
  const words = trimmed.split(/\s+/);
  if (words[0] === 'exit' || words[0] === 'quit') words[0] = 'logout';
  let best: ConsoleCommand | undefined;
  for (const c of COMMANDS) {
    if (c.words.length <= words.length && c.words.every((w, i) => words[i] === w) && (!best || c.words.length > best.words.length)) best = c;
  }
  if (!best) return undefined;
  let rest = trimmed;
  for (let i = 0; i < best.words.length; i++) rest = rest.replace(/^\S+\s*/, '');
  return { cmd: best, args: words.slice(best.words.length).filter(Boolean), rest };
}
