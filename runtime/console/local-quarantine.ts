/**
 * Local quarantine (console `quarantine add|remove ID`, admin): asset or identity ids cut off on
 * this gateway in addition to the signed policy's `quarantine` list, persisted in the state
 * folder (`quarantine.local.json`, atomic durable write) so a restart keeps them. Every change
 * is audited (kind 'quarantine') and tells onChange, so the session decider re-decides live
 * connections (runtime/auth/session-decider.ts).
 */
import type { AuditSink } from '../../drivers/types';
import type { BlobStore } from '../store/blob-store';
import { ZonegateError } from '../../policy/errors';

export const QUARANTINE_BLOB = 'quarantine.local.json';
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export interface LocalQuarantine {
  has(id: string): boolean;
  list(): { id: string; at: number; by: string; reason?: string }[];
  /** Adds an id; false when it was already there. Throws ERR_USAGE for an invalid id. */
  /** `source` names the part in the audit record: 'console' (default) or 'fleet-command'. */
  add(id: string, opts: { by: string; reason?: string; source?: string }): Promise<boolean>;
  remove(id: string, opts: { by: string; source?: string }): Promise<boolean>;
}

/** Loads the local quarantine. */
export async function openLocalQuarantine(opts: { blobs: BlobStore; audit: AuditSink; now: () => number; onChange?: () => void }): Promise<LocalQuarantine> {
  let entries = new Map<string, { at: number; by: string; reason?: string }>();
  const raw = await opts.blobs.read(QUARANTINE_BLOB);
  if (raw) {
    try {
      for (const e of JSON.parse(Buffer.from(raw).toString('utf8')).entries as { id: string; at: number; by: string; reason?: string }[]) entries.set(e.id, e);
    } catch (e) {
      throw new ZonegateError('ERR_STORAGE', `${QUARANTINE_BLOB} in the state folder is corrupt: ${(e as Error).message}`, { cause: e });
    }
  }
  let chain: Promise<unknown> = Promise.resolve();
  const save = (next: typeof entries) => {
    const run = chain.then(async () => {
      await opts.blobs.write(QUARANTINE_BLOB, Buffer.from(JSON.stringify({ entries: [...next].map(([id, e]) => ({ ...e, id })) })));
      entries = next;
    });
    chain = run.catch(() => undefined);
    return run;
  };
  const tell = (message: string, detail: Record<string, unknown>, source = 'console') => {
    try { opts.audit.record({ kind: 'quarantine', at: opts.now(), source, message, detail }); } catch { /* never throws */ }
    try { opts.onChange?.(); } catch { /* promised not to throw */ }
  };
  return {
    has: (id) => entries.has(id),
    list: () => [...entries].map(([id, e]) => ({ id, ...e })),
    async add(id, o) {
      if (!ID.test(id)) throw new ZonegateError('ERR_USAGE', `invalid id ${JSON.stringify(id.slice(0, 64))}`);
      if (entries.has(id)) return false;
      const next = new Map(entries);
      next.set(id, { at: opts.now(), by: o.by, ...(o.reason ? { reason: o.reason } : {}) });
      await save(next);
      tell(`quarantined ${id} locally`, { id, by: o.by, reason: o.reason }, o.source);
      return true;
    },
    async remove(id, o) {
      if (!entries.has(id)) return false;
      const next = new Map(entries);
      next.delete(id);
      await save(next);
      tell(`local quarantine of ${id} lifted`, { id, by: o.by }, o.source);
      return true;
    },
  };
}
