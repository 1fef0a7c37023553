/**
 * Signs a command bundle (policy/bundle/command-payload.ts) for gateways: quarantine add/remove
 * and/or a users list, under the trust root's `command` role. The payload is checked with the
 * parser a gateway runs before anything is signed.
 */
import { ZonegateError } from '../policy/errors';
import { signBundle } from '../policy/bundle/sign';
import { parseCommandPayload, type CommandAction } from '../policy/bundle/command-payload';
import type { SigningKey } from '../policy/bundle/types';

export interface SignCommandInput {
  site: string;
  targets: readonly string[];
  version: number;
  issuedAt: number;
  keys: readonly SigningKey[];
  /** Default `cmd-vVERSION`. */
  id?: string;
  quarantineAdd?: readonly string[];
  quarantineRemove?: readonly string[];
  /** The users list as read from a JSON file (checked fully by the gateway). */
  users?: unknown;
  /** Bundle expiry (default issuedAt + 7 days: a command is acted on soon or not at all). */
  expiresAt?: number;
}

/** Returns the envelope bytes; throws ZonegateError ERR_USAGE / ERR_BUNDLE_DECODE for a command a gateway would refuse. */
export function signCommand(input: SignCommandInput): Uint8Array {
  const actions: CommandAction[] = [];
  const add = [...(input.quarantineAdd ?? [])], remove = [...(input.quarantineRemove ?? [])];
  if (add.length || remove.length) actions.push({ quarantine: { add, remove } });
  if (input.users !== undefined) actions.push({ users: input.users as never });
  if (actions.length === 0) throw new ZonegateError('ERR_USAGE', 'a command needs at least one action (quarantine add/remove or users)');
  const command = { id: input.id ?? `cmd-v${input.version}`, actions: actions.map(compact) };
  parseCommandPayload(command);
  const expiresAt = input.expiresAt ?? input.issuedAt + 7 * 86_400_000;
  if (expiresAt <= input.issuedAt) throw new ZonegateError('ERR_USAGE', 'the command would expire before it was issued');
  return signBundle({
    type: 'command',
    body: { site: input.site, targets: [...input.targets], version: input.version, issuedAt: input.issuedAt, expiresAt, command: command as unknown as Record<string, unknown> },
    keys: input.keys,
  });
}

/** Drops empty add/remove lists (the encoded payload carries only what is given). */
function compact(a: CommandAction): Record<string, unknown> {
  if (!('quarantine' in a)) return { users: a.users };
  const q: Record<string, string[]> = {};
  if (a.quarantine.add.length) q.add = a.quarantine.add;
  if (a.quarantine.remove.length) q.remove = a.quarantine.remove;
  return { quarantine: q };
}
