/**
 * The A/B layout of an installation (design.md "Signed bundles": runtime updates installed A/B
 * with automatic rollback):
 *
 *   <root>/slots/a, <root>/slots/b   two unpacked packages
 *   <root>/current                   relative symlink `slots/a` or `slots/b`: the one that runs
 *
 * Switching is one rename(2) of a new symlink over `current` (atomic within a file system), then
 * an fsync of <root> so that the new entry survives a power loss.
 */
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ZonegateError } from '../../policy/errors';

export type Slot = 'a' | 'b';

/** The paths of an installation root. */
export function slotPaths(root: string): { root: string; current: string; slots: Record<Slot, string> } {
  return { root, current: join(root, 'current'), slots: { a: join(root, 'slots', 'a'), b: join(root, 'slots', 'b') } };
}

/** The other slot. */
export function otherSlot(slot: Slot): Slot {
  return slot === 'a' ? 'b' : 'a';
}

/** The slot `current` points at, or null when there is no (valid) `current` link. */
export async function readActiveSlot(root: string): Promise<Slot | null> {
  try {
    const target = await fsp.readlink(slotPaths(root).current);
    const m = /(?:^|\/)slots\/([ab])\/?$/.exec(target);
    return m ? (m[1] as Slot) : null;
  } catch {
    return null;
  }
}

/** The VERSION file of a slot (trimmed), or null. */
export async function readSlotVersion(root: string, slot: Slot): Promise<string | null> {
  try {
    const v = (await fsp.readFile(join(slotPaths(root).slots[slot], 'VERSION'), 'utf8')).trim();
    return v === '' ? null : v.slice(0, 64);
  } catch {
    return null;
  }
}

/** Points `current` at `slot`: a new symlink under a temp name, renamed over `current`, fsync of root. */
export async function switchCurrent(options: { root: string; slot: Slot }): Promise<void> {
  const { current } = slotPaths(options.root);
  const tmp = `${current}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.symlink(`slots/${options.slot}`, tmp);
    await fsp.rename(tmp, current);
    const dh = await fsp.open(options.root, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw new ZonegateError('ERR_UPDATE_INSTALL', `cannot switch ${current} to slots/${options.slot}: ${(e as Error).message}`, { cause: e });
  }
}
