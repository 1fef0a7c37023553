// kill -9 during appends, many times: a child process appends in a loop and reports, after each
// flush() resolved, the number of the last event it knows is committed; the parent SIGKILLs it,
// then opens (recovering) the log and checks that the chain verifies with no gap and that every
// event reported committed is there. ZG_KILL_ITERATIONS sets the count (`make soak` runs 400).
// Lane 0 kills after a random delay. Lane 1 writes each batch in 64-byte pieces and, every other
// iteration, stops inside a segment write after its first piece and says so ("T"): the kill then
// lands there for certain and leaves a torn tail, as power loss would (recovery is exercised
// whatever the machine's load; one pwrite of a batch is rarely cut by SIGKILL).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { writeSync, readFileSync, writeFileSync, existsSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { AuditLog } from '../../runtime/audit/log';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { readAuditRecords } from '../../protocol/audit/query';
import { rawFromPublicKey } from '../../protocol/audit/checkpoint';
import { nodeAuditFs, type AuditFs } from '../../runtime/audit/fs';
import { createPublicKey } from 'node:crypto';
import { decisionEvent, makeKey, tempDir } from './helpers';

const ITERATIONS = Number(process.env.ZG_KILL_ITERATIONS ?? 24);

async function child(dir: string, base: number): Promise<void> {
  const privateKey = createPrivateKey(readFileSync(join(dir, '..', 'key.pem'), 'utf8'));
  const key = { privateKey, publicRaw: rawFromPublicKey(createPublicKey(privateKey)) };
  // Chunked lane: each batch goes out in 64-byte writes, so a kill can land inside a batch and
  // leave a torn tail, as power loss would (one pwrite of a batch is rarely cut by SIGKILL).
  const real = nodeAuditFs();
  const stall = process.env.ZG_AUDIT_STALL === '1';
  const segmentFds = new Set<number>();
  let committedOnce = false;
  const fs: AuditFs = process.env.ZG_AUDIT_CHUNKED !== '1' ? real : {
    ...real,
    async open(path, flags) {
      const fd = await real.open(path, flags);
      if (/audit-[0-9a-f]{16}\.seg$/.test(path)) segmentFds.add(fd);
      return fd;
    },
    async write(fd, data, position) {
      for (let o = 0; o < data.length; o += 64) {
        await real.write(fd, data.subarray(o, Math.min(data.length, o + 64)), position + o);
        if (stall && committedOnce && o === 0 && data.length > 64 && segmentFds.has(fd)) {
          writeSync(1, 'T\n');
          // Torn here until the parent's SIGKILL; the interval keeps the process alive meanwhile
          // (with nothing pending it would exit 0 before a busy parent gets to the kill).
          await new Promise(() => { setInterval(() => undefined, 60_000); });
        }
      }
    },
  };
  const log = await AuditLog.open({ dir, device: 'gw-crash', key, fs, segmentBytes: 8192, flushDelayMs: 1, checkpointEvery: 37 });
  writeSync(1, 'R\n');
  let n = base;
  for (;;) {
    const k = 1 + Math.floor(Math.random() * 40);
    for (let i = 0; i < k; i++) log.record({ ...decisionEvent(n), source: 'child', detail: { n } }), n++;
    await log.flush();
    writeSync(1, `C ${n - 1}\n`);
    committedOnce = true;
  }
}

/** How a child dies: `delayMs` after it is ready, or (`tear`) when it stops inside a segment write. */
type Kill = { delayMs: number; chunked: boolean; tear?: false } | { tear: true; chunked: true };

function runChildOnce(script: string, dir: string, base: number, how: Kill): Promise<number> {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env, ZG_AUDIT_CHILD: dir, ZG_AUDIT_BASE: String(base), ZG_AUDIT_CHUNKED: how.chunked ? '1' : '0',
      ZG_AUDIT_STALL: how.tear ? '1' : '0', NODE_PATH: join(process.cwd(), 'node_modules'),
    };
    const c = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let committed = base - 1;
    let killTimer: NodeJS.Timeout | null = null;
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop() as string;
      for (const l of lines) {
        if (l === 'R' && !how.tear && killTimer === null) killTimer = setTimeout(() => c.kill('SIGKILL'), how.delayMs);
        else if (l === 'T') c.kill('SIGKILL');
        else if (l.startsWith('C ')) committed = Number(l.slice(2));
      }
    });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    // Only a bound on a hung child: it is killed anyway, and every check below still holds.
    const guard = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.on('error', reject);
    c.on('close', (code, signal) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${err}`));
      else resolve(committed);
    });
  });
}

if (process.env.ZG_AUDIT_CHILD) {
  void child(process.env.ZG_AUDIT_CHILD, Number(process.env.ZG_AUDIT_BASE));
} else {
  // Two lanes, each with its own log folder.
  async function lane(root: string, lanes: number, laneNo: number, key: ReturnType<typeof makeKey>, script: string) {
    const dir = join(root, `audit-${laneNo}`);
    let committedTotal = 0;
    let recovered = 0;
    let tornSeen = 0;
    let tears = 0;
    for (let it = laneNo; it < ITERATIONS; it += lanes) {
      const base = it * 1_000_000;
      const tear = laneNo === 1 && Math.floor(it / lanes) % 2 === 0;
      const committed = await runChildOnce(script, dir, base, tear ? { tear: true, chunked: true } : { delayMs: Math.floor(Math.random() * 40), chunked: laneNo === 1 });
      if (tear) tears++;
      const pre = existsSync(dir) ? await verifyAuditDir(dir, { devicePublicKey: key.publicRaw }) : null;
      if (pre?.tornTail) tornSeen++;
      // A kill before the first checkpoint leaves a log nothing signs yet: a pinned verify says so.
      const unsignedYet = pre !== null && pre.error?.code === 'unsigned' && pre.checkpoints === 0;
      assert.ok(pre === null || pre.ok || unsignedYet, `iteration ${it}: before recovery: ${JSON.stringify(pre?.error)}`);
      const log = await AuditLog.open({ dir, device: 'gw-crash', key, segmentBytes: 8192 });
      if (log.status().recoveredBytes > 0) recovered++;
      await log.close();
      const rep = await verifyAuditDir(dir, { devicePublicKey: key.publicRaw });
      assert.ok(rep.ok, `iteration ${it}: ${JSON.stringify(rep.error)}`);
      assert.is(rep.tornTail, null);
      assert.is(rep.firstSeq, 0);
      assert.is(rep.records, (rep.lastSeq as number) + 1, 'no seq gaps');
      assert.equal(rep.gaps, []);
      const ns = new Set<number>();
      for (const r of (await readAuditRecords(dir, { kind: 'decision' })).records) ns.add((r.detail as { n: number }).n);
      for (let n = base; n <= committed; n++) {
        if (!ns.has(n)) assert.unreachable(`iteration ${it}: event ${n} was reported committed (through ${committed}) but is missing`);
      }
      committedTotal += committed - base + 1;
    }
    return { committedTotal, recovered, tornSeen, tears };
  }

  test(`kill -9 during appends, ${ITERATIONS} times: every committed record survives, the chain verifies`, async () => {
    const t = tempDir('zg-crash-');
    try {
      const key = makeKey();
      writeFileSync(join(t.dir, 'key.pem'), key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
      // The child runs this same bundled file; a copy, since a parallel test run may clear .out/.
      const script = join(t.dir, 'child.js');
      copyFileSync(process.argv[1], script);
      const lanes = await Promise.all([0, 1].map((l) => lane(t.dir, 2, l, key, script)));
      const committed = lanes.reduce((n, l) => n + l.committedTotal, 0);
      const recovered = lanes.reduce((n, l) => n + l.recovered, 0);
      console.log(`  ${ITERATIONS} kills: ${committed} events reported committed, all present after recovery; ${recovered} recoveries cut a torn tail (${lanes[1].recovered} in the chunked-write lane, ${lanes[1].tornSeen} torn tails seen by verify first)`);
      // Each tearing child committed one flush before it stopped inside the next write.
      assert.ok(committed >= lanes[1].tears, `${committed} committed`);
      assert.ok(lanes[1].tears > 0, 'no iteration tore a write');
      assert.ok(lanes[1].recovered >= lanes[1].tears, `every torn write was cut by recovery (${lanes[1].recovered} of ${lanes[1].tears})`);
    } finally { t.cleanup(); }
  });
  test.run();
}
