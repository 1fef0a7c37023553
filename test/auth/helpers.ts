/** Shared pieces of the access tests: temp state folders, users, a policy with edge-auth and grant conduits. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../drivers/types';
import { validatePolicy } from '../../policy/validate';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { FsBlobStore } from '../../runtime/store/fs-blob-store';
import { UserStore } from '../../runtime/auth/user-store';
import { hashPassword } from '../../protocol/web/password';
import { createSemaphore } from '../../protocol/web/semaphore';
import type { Role } from '../../runtime/auth/types';

/** A fresh temp folder and its remover (only this folder is ever removed). */
export function tempDir(tag: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `zg-${tag}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function auditSink(): { events: AuditEvent[]; record(e: AuditEvent): void } {
  const events: AuditEvent[] = [];
  return { events, record: (e) => { events.push(e); } };
}

/** Opens a user store in `dir` with the given users (password = `${name}-password-1`). */
export async function usersIn(dir: string, users: { name: string; role: Role; totpSecret?: string }[]): Promise<UserStore> {
  const store = await UserStore.open({ blobs: await FsBlobStore.open({ dir }) });
  const limiter = createSemaphore({ limit: 2 });
  for (const u of users) {
    await store.put({ name: u.name, role: u.role, passwordHash: await hashPassword(`${u.name}-password-1`, { limiter }), origin: 'local', createdAt: 0, updatedAt: 0, ...(u.totpSecret ? { totpSecret: u.totpSecret } : {}) });
  }
  return store;
}

/** The raw policy: plc-1 behind the proxy; acme-support (vendor) needs edge auth and a grant, alice (user) edge auth only. */
export function accessPolicy(): Record<string, unknown> {
  return {
    site: 's1',
    zones: [
      { id: 'maint', networks: ['127.0.0.0/8'], securityLevel: 1 },
      { id: 'control', networks: ['10.10.1.0/24'], securityLevel: 3 },
    ],
    assets: [{ id: 'plc-1', zone: 'control', address: '10.10.1.20', kind: 'plc', services: [{ protocol: 'modbus', port: 502 }, { protocol: 'tcp', port: 443 }] }],
    identities: [
      { id: 'acme-support', kind: 'vendor', roles: ['vendor'] },
      { id: 'alice', kind: 'user', roles: ['operator'] },
    ],
    conduits: [
      { id: 'vendor-maintenance', from: { roles: ['vendor'] }, to: { assets: ['plc-1'] }, protocol: 'modbus',
        allow: { functions: ['read-holding-registers'], units: [1], addresses: ['0-99'] }, requires: { edgeAuth: true, grant: true } },
      { id: 'operator-reads', from: { identities: ['alice'] }, to: { assets: ['plc-1'] }, protocol: 'modbus',
        allow: { functions: ['read-holding-registers'], units: [1], addresses: ['0-99'] }, requires: { edgeAuth: true } },
      { id: 'vendor-web', from: { roles: ['vendor'] }, to: { assets: ['plc-1'] }, protocol: 'tcp', ports: [443], requires: { edgeAuth: true, grant: true } },
    ],
    quarantine: [],
    settings: { onExpiry: 'deny-all' },
    tests: [],
  };
}

export function accessDecider(): IndexDecider {
  return new IndexDecider(compile(validatePolicy(accessPolicy()), { version: 'v1' }));
}
