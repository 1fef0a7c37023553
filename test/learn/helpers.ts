/** Runs the CLI in this process (no bundle, no child): the exit code and what it printed. */
import { runCli } from '../../cli/framework';
import { commands } from '../../cli/commands';

export async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, commands, { out: (t) => out.push(t), err: (t) => err.push(t) }, new AbortController().signal);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

export const FIX = 'test/fixtures/learn';

import type { AuditEvent } from '../../drivers/types';
import type { Decision } from '../../policy/types';
import { AuditLog } from '../../runtime/audit/log';
import { generateKeyPairSync } from 'node:crypto';
import { rawFromPublicKey } from '../../protocol/audit/checkpoint';

/** Writes events through the real audit log (hash chain, frames, segments) into `dir`. */
export async function writeAudit(dir: string, events: readonly AuditEvent[], segmentBytes?: number): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const log = await AuditLog.open({ dir, device: 'gw-test', key: { privateKey, publicRaw: rawFromPublicKey(publicKey) }, flood: false, ...(segmentBytes ? { segmentBytes, maxBytes: 1 << 30 } : {}) });
  for (const e of events) log.record(e);
  await log.close();
}

/** Monday 2026-11-23, at HH:MM UTC. */
export const monday = (hhmm: string): number => Date.parse(`2026-11-23T${hhmm}:00Z`);

const allow = (conduit: string, identity: string | null, monitor?: string): Decision => (monitor
  ? { decision: 'allow', conduit, reason: monitor as Decision['reason'], identity, monitor: true }
  : { decision: 'allow', conduit, reason: null, identity });
const deny = (reason: string, identity: string | null): Decision => ({ decision: 'deny', conduit: null, reason: reason as Decision['reason'], identity });

/** A Modbus request decision as drivers/modbus-tcp/connection.ts records it. */
export function modbusEvent(at: number, src: string, asset: string, decision: Decision, fn: number, address: number, count: number, unit = 1): AuditEvent {
  return { kind: 'decision', at, source: 'modbus-tcp', decision, policyVersion: 'v1', src, srcPort: 40000, asset, port: 502, protocol: 'modbus', modbus: { function: fn, unit, address, count } };
}

/** A TCP conduit connection decision as drivers/tcp-conduit records it. */
export function tcpEvent(at: number, src: string, asset: string, port: number, decision: Decision): AuditEvent {
  return { kind: 'decision', at, source: 'tcp-conduit', decision, policyVersion: 'v1', src, srcPort: 40001, asset, port, protocol: 'tcp' };
}

export const D = { allow, deny };
