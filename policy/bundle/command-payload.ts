/**
 * The payload of a `command` bundle (design.md: "the same envelope carries ... commands"): an id
 * and an ordered list of actions, each exactly one of
 *   `{ quarantine: { add?: string[], remove?: string[] } }` — ids cut off (or restored) on the
 *     gateway's local quarantine;
 *   `{ users: [{ name, role, passwordHash, totpSealed? }] }` — the fleet's user list (the
 *     gateway checks argon2 parameters and opens sealed TOTP seeds: runtime/auth/bundle-users.ts).
 * Pure data checks only; a payload is refused whole, listing every problem.
 */
import { ZonegateError } from '../errors';

export interface QuarantineAction { quarantine: { add: string[]; remove: string[] } }
export interface CommandUser { name: string; role: string; passwordHash: string; totpSealed?: Uint8Array | string }
export interface UsersAction { users: CommandUser[] }
export type CommandAction = QuarantineAction | UsersAction;

/** A checked command payload. */
export interface CommandPayload {
  id: string;
  actions: CommandAction[];
}

/** Asset/identity ids as the local quarantine accepts them. */
export const COMMAND_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const MAX_COMMAND_ACTIONS = 16;
export const MAX_QUARANTINE_IDS = 256;
export const MAX_COMMAND_USERS = 256;
const USER_FIELDS = ['name', 'role', 'passwordHash', 'totpSealed'];

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);

/** Checks a decoded command payload; throws ZonegateError ERR_BUNDLE_DECODE with `issues` for every problem. */
export function parseCommandPayload(v: unknown): CommandPayload {
  const issues: { path: string; message: string }[] = [];
  const bad = (path: string, message: string) => { issues.push({ path, message }); };
  if (!isMap(v)) throw new ZonegateError('ERR_BUNDLE_DECODE', 'command: not a map');
  for (const k of Object.keys(v)) if (k !== 'id' && k !== 'actions') bad('command', `unknown field '${k.slice(0, 40)}'`);
  if (typeof v.id !== 'string' || !COMMAND_ID.test(v.id)) bad('command.id', 'not a command id (letters, digits, . _ : -, at most 64)');
  const actions: CommandAction[] = [];
  if (!Array.isArray(v.actions) || v.actions.length === 0 || v.actions.length > MAX_COMMAND_ACTIONS) {
    bad('command.actions', `not a list of 1-${MAX_COMMAND_ACTIONS} actions`);
  } else {
    v.actions.forEach((a: unknown, i: number) => {
      const path = `command.actions[${i}]`;
      if (!isMap(a) || Object.keys(a).length !== 1) { bad(path, "not a map with exactly one of 'quarantine', 'users'"); return; }
      if ('quarantine' in a) actions.push(quarantineAction(a.quarantine, `${path}.quarantine`, bad));
      else if ('users' in a) actions.push(usersAction(a.users, `${path}.users`, bad));
      else bad(path, `unknown action '${Object.keys(a)[0].slice(0, 40)}'`);
    });
  }
  if (issues.length) {
    throw new ZonegateError('ERR_BUNDLE_DECODE', `${issues[0].path}: ${issues[0].message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, { issues });
  }
  return { id: v.id as string, actions };
}

function idList(v: unknown, path: string, bad: (p: string, m: string) => void): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_QUARANTINE_IDS) { bad(path, `not a list of at most ${MAX_QUARANTINE_IDS} ids`); return []; }
  const out: string[] = [];
  v.forEach((id: unknown, i: number) => {
    if (typeof id !== 'string' || !COMMAND_ID.test(id)) bad(`${path}[${i}]`, 'not an asset or identity id');
    else if (out.includes(id)) bad(`${path}[${i}]`, `'${id}' listed twice`);
    else out.push(id);
  });
  return out;
}

function quarantineAction(v: unknown, path: string, bad: (p: string, m: string) => void): QuarantineAction {
  if (!isMap(v)) { bad(path, 'not a map'); return { quarantine: { add: [], remove: [] } }; }
  for (const k of Object.keys(v)) if (k !== 'add' && k !== 'remove') bad(path, `unknown field '${k.slice(0, 40)}'`);
  const add = idList(v.add, `${path}.add`, bad);
  const remove = idList(v.remove, `${path}.remove`, bad);
  if (add.length + remove.length === 0) bad(path, 'neither add nor remove names an id');
  for (const id of add) if (remove.includes(id)) bad(path, `'${id}' is both added and removed`);
  return { quarantine: { add, remove } };
}

function usersAction(v: unknown, path: string, bad: (p: string, m: string) => void): UsersAction {
  if (!Array.isArray(v) || v.length > MAX_COMMAND_USERS) { bad(path, `not a list of at most ${MAX_COMMAND_USERS} users`); return { users: [] }; }
  const users: CommandUser[] = [];
  v.forEach((u: unknown, i: number) => {
    const p = `${path}[${i}]`;
    if (!isMap(u)) { bad(p, 'not a map'); return; }
    for (const k of Object.keys(u)) if (!USER_FIELDS.includes(k)) bad(p, `unknown field '${k.slice(0, 40)}'`);
    if (typeof u.name !== 'string' || u.name === '') bad(`${p}.name`, 'not a non-empty string');
    if (typeof u.role !== 'string' || u.role === '') bad(`${p}.role`, 'not a non-empty string');
    if (typeof u.passwordHash !== 'string' || !u.passwordHash.startsWith('$argon2id$')) bad(`${p}.passwordHash`, 'not an argon2id PHC string');
    if (u.totpSealed !== undefined && typeof u.totpSealed !== 'string' && !(u.totpSealed instanceof Uint8Array)) bad(`${p}.totpSealed`, 'neither bytes nor base64 text');
    users.push({ name: u.name as string, role: u.role as string, passwordHash: u.passwordHash as string, ...(u.totpSealed !== undefined ? { totpSealed: u.totpSealed as Uint8Array | string } : {}) });
  });
  return { users };
}
