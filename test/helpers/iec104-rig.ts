/**
 * The lab RTU behind a real IEC 104 proxy on loopback, deciding with the substation fixture's
 * policy and keeping every audit event: the setup the IEC 104 proxy tests share.
 */
import { readFileSync } from 'node:fs';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createIec104Proxy, type Iec104Proxy, type Iec104ProxyOptions } from '../../drivers/iec104';
import type { AuditEvent } from '../../drivers/types';
import { startIec104Rtu, type Iec104Rtu } from '../../runtime/lab/iec104-rtu';

export const IEC104_FIXTURE = 'test/fixtures/policy/iec104-substation.yaml';

export interface Iec104Rig { rtu: Iec104Rtu; proxy: Iec104Proxy; events: AuditEvent[]; close(): Promise<void> }

/** Starts the RTU and the proxy in front of it (extra proxy options, e.g. maxQueued, pass through). */
export async function startIec104Rig(extra: Partial<Iec104ProxyOptions> = {}): Promise<Iec104Rig> {
  const events: AuditEvent[] = [];
  const rtu = await startIec104Rtu({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const proxy = createIec104Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtu.address().port }, asset: 'rtu-104', servicePort: 2404,
    decider: new IndexDecider(compile(parsePolicy(readFileSync(IEC104_FIXTURE, 'utf8'), { file: IEC104_FIXTURE }), { version: '1' })),
    audit: { record: (e) => { events.push(e); } }, now: Date.now, ...extra,
  });
  await proxy.start(new AbortController().signal);
  return { rtu, proxy, events, async close() { await proxy.stop(); await rtu.close(); } };
}
