/**
 * Login benchmark.
 * 1. Login latency at the chosen argon2id parameters (m = 19,456 KiB, t = 2, p = 1), a correct
 *    password through the real authenticator (semaphore, throttle state in a real state folder),
 *    median and p99, beside node:crypto scrypt at comparable memory cost (N = 2^14, r = 8, p = 1:
 *    16 MiB) as the peer, measured in the same run.
 * 2. A Modbus proxy request loop (createModbusProxy with the session decider over the real
 *    IndexDecider, one connection, closed loop, FC 3 reads to an in-process Node Modbus server)
 *    with and without a login flood: waves of 50 parallel failing logins (distinct names and
 *    source addresses, so none is refused by the per-name or per-address throttle and every one
 *    costs an argon2 verify, unless the hashing queue is full), all in the
 *    daemon's one process as on a gateway. Goal: the proxy's p99 moves by ≤ 10 %.
 * Run: node build/run-bench.mjs login   (ZG_BENCH_SECONDS overrides 2 s per phase)
 */
import { scrypt as scryptCb, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModbusProxy } from '../../drivers/modbus-tcp';
import { createAuthenticator } from '../../runtime/auth/authenticator';
import { createSemaphore } from '../../protocol/web/semaphore';
import { createSessionTable } from '../../runtime/auth/sessions';
import { createSessionDecider } from '../../runtime/auth/session-decider';
import { ARGON2_PARAMS } from '../../protocol/web/password';
import { accessDecider, usersIn } from '../auth/helpers';
import { adu, pdus, RawClient, startNodeModbusServer } from '../helpers/modbus';
import { percentiles, printTable } from './report';

const SECONDS = Number(process.env.ZG_BENCH_SECONDS ?? 2);
const LOGINS = 40;

const scrypt = (pw: string, salt: Buffer) => new Promise<Buffer>((resolve, reject) => {
  scryptCb(pw, salt, 32, { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (e, k) => (e ? reject(e) : resolve(k)));
});

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zg-login-bench-'));
  try {
    const users = await usersIn(dir, [{ name: 'alice', role: 'operator' }]);
    const limit = Number(process.env.ZG_BENCH_HASH_LIMIT ?? 1);
    const cooldown = Number(process.env.ZG_BENCH_HASH_COOLDOWN ?? 3);
    const limiter = createSemaphore({ limit, maxQueued: 64, cooldownFactor: cooldown });
    const audit = { record: () => undefined };
    const auth = createAuthenticator({ users, limiter, audit, now: Date.now, throttle: { baseDelayMs: 1_000, lockAfter: 10 } });
    const channel = { kind: 'web' as const, from: '127.0.0.1' };

    // 1. login latency vs scrypt.
    await auth.login({ name: 'alice', password: 'alice-password-1', channel });
    await scrypt('warm', randomBytes(16));
    const login: number[] = [], peer: number[] = [];
    for (let i = 0; i < LOGINS; i++) {
      let t = process.hrtime.bigint();
      const r = await auth.login({ name: 'alice', password: 'alice-password-1', channel });
      if (!r.ok) throw new Error(`login failed: ${r.reason}`);
      login.push(Number(process.hrtime.bigint() - t) / 1e6);
      t = process.hrtime.bigint();
      await scrypt('alice-password-1', randomBytes(16));
      peer.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const l = percentiles(login), p = percentiles(peer);

    // 2. Modbus loop with and without a flood.
    const server = await startNodeModbusServer();
    const sessions = createSessionTable({ now: Date.now, audit });
    sessions.open({ sourceIp: '127.0.0.1', user: 'alice', role: 'operator', via: 'web', ttlMs: 3_600_000 });
    const decider = createSessionDecider({ inner: accessDecider(), facts: (ip) => sessions.facts(ip), generation: () => sessions.generation });
    const proxy = createModbusProxy({
      listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: server.port }, asset: 'plc-1', servicePort: 502,
      decider, audit, now: Date.now, session: (ip) => sessions.facts(ip),
    });
    await proxy.start(new AbortController().signal);
    const client = await RawClient.open(proxy.address().port);
    let tid = 0;
    const loop = async (ms: number): Promise<number[]> => {
      const out: number[] = [];
      const end = Date.now() + ms;
      while (Date.now() < end) {
        tid = (tid + 1) & 0xffff;
        const t = process.hrtime.bigint();
        const r = await client.request(adu(tid, 1, pdus.read(3, 1, 1)));
        if (!r || r.exception !== undefined) throw new Error('the proxy refused the bench read');
        out.push(Number(process.hrtime.bigint() - t) / 1e3);
        client.responses.length = 0;
      }
      return out;
    };
    await loop(300);
    let flooding = false;
    let floodLogins = 0, floodBusy = 0, wave = 0;
    const flood = async () => {
      while (flooding) {
        wave += 1;
        // 50 source addresses (labels only: no packet leaves the process), so that the per-address
        // throttle does not thin the flood out: the worst case, a distributed spray.
        const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => auth.login({ name: `u${wave}x${i}`, password: 'wrong', channel: { kind: 'web', from: `198.51.100.${i + 1}` } })));
        floodLogins += rs.length;
        floodBusy += rs.filter((r) => !r.ok && r.reason === 'busy').length;
      }
    };
    const quiet: number[] = [], loud: number[] = [];
    const rounds = 3;
    for (let r = 0; r < rounds; r++) {
      quiet.push(...await loop((SECONDS * 1000) / rounds));
      flooding = true;
      const f = flood();
      await new Promise((res) => setTimeout(res, 100));
      loud.push(...await loop((SECONDS * 1000) / rounds));
      flooding = false;
      await f;
    }
    const q = percentiles(quiet), f = percentiles(loud);
    client.close();
    await proxy.stop();
    await server.stop();

    printTable('Login (argon2id) and a Modbus proxy under a login flood', [
      { what: `login latency, argon2id m=${ARGON2_PARAMS.memoryCost} KiB t=${ARGON2_PARAMS.timeCost} p=${ARGON2_PARAMS.parallelism} (median)`, value: l.p50, unit: 'ms', peer: 'scrypt N=2^14 r=8 p=1 (16 MiB)', peerValue: p.p50, better: 'lower' },
      { what: 'login latency (p99)', value: l.p99, unit: 'ms', peer: 'scrypt (p99)', peerValue: p.p99, better: 'lower' },
      { what: 'Modbus proxy round trip during login flood (median)', value: f.p50, unit: 'µs', peer: 'same loop, no flood', peerValue: q.p50, better: 'lower' },
      { what: 'Modbus proxy round trip during login flood (p99)', value: f.p99, unit: 'µs', peer: 'same loop, no flood', peerValue: q.p99, better: 'lower', goal: '≤ 1.10×' },
    ], [
      `${LOGINS} sequential logins; flood: waves of 50 parallel failing logins with distinct names and source addresses, ${floodLogins} attempts, ${floodBusy} refused 'busy' by the hashing queue (limit ${limit}, cooldown ×${cooldown}, queue 64)`,
      `proxy samples: ${quiet.length} quiet, ${loud.length} flooded, ${rounds} interleaved rounds of ${(SECONDS / rounds).toFixed(2)} s; everything in one process (as in the daemon), 2 shared cores`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
