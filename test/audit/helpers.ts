/** Shared helpers of the audit tests: keys, temp folders, events, an fs layer that counts and fails. */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../drivers/types';
import { rawFromPublicKey } from '../../protocol/audit/checkpoint';
import { nodeAuditFs, type AuditFs } from '../../runtime/audit/fs';

export function makeKey(): { privateKey: import('node:crypto').KeyObject; publicRaw: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicRaw: rawFromPublicKey(publicKey) };
}

export function tempDir(prefix = 'zg-audit-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A realistic Modbus decision event. */
export function decisionEvent(i: number, o: { decision?: 'allow' | 'deny'; at?: number; src?: string; asset?: string; reason?: string } = {}): AuditEvent {
  const allow = (o.decision ?? 'allow') === 'allow';
  return {
    kind: 'decision',
    at: o.at ?? 1_760_000_000_000 + i,
    source: 'modbus-tcp',
    decision: allow
      ? { decision: 'allow', conduit: 'hmi-reads-feeder', reason: null, identity: 'hmi-1' }
      : { decision: 'deny', conduit: null, reason: (o.reason ?? 'function-not-allowed') as 'function-not-allowed', identity: 'hmi-1' },
    policyVersion: '42',
    src: o.src ?? '10.10.1.5',
    srcPort: 40000 + (i % 1000),
    asset: o.asset ?? 'plc-feeder-1',
    port: 502,
    protocol: 'modbus',
    modbus: { function: allow ? 3 : 6, unit: 1, address: i % 100, count: allow ? 10 : 1 },
  };
}

export interface TestFs extends AuditFs {
  counts: { fsync: number; write: number };
  /** Makes the next n writes fail with `code`; `partial` writes half the bytes first. */
  failWrites(n: number, code: string, partial?: boolean): void;
}

/** The real fs, counting writes and fsyncs and failing writes on request. */
export function testFs(): TestFs {
  const real = nodeAuditFs();
  let failing = 0;
  let failCode = 'ENOSPC';
  let partial = false;
  const counts = { fsync: 0, write: 0 };
  return {
    ...real,
    counts,
    failWrites(n, code, p = false) { failing = n; failCode = code; partial = p; },
    async write(fd, data, position) {
      if (failing > 0) {
        failing--;
        if (partial) await real.write(fd, data.subarray(0, data.length >> 1), position);
        throw Object.assign(new Error(`${failCode}: injected failure, write`), { code: failCode });
      }
      counts.write++;
      return real.write(fd, data, position);
    },
    async fsync(fd) { counts.fsync++; return real.fsync(fd); },
  };
}
