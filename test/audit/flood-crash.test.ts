// Issue 13 item 10: a crash must not forget a deny flood. A child process writes a log under a
// deny flood (most denials summarised) mixed with allowed requests; after each flush() it reports
// how many denials and allows it had answered; the parent kill -9s it after a random delay and
// counts, in the recovered log, verbatim denials plus summary counts: every denial answered before
// the last flush() that returned must be accounted for (the flood window, 10 s, never closed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { writeSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { AuditLog } from '../../runtime/audit/log';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { readAuditRecords } from '../../protocol/audit/query';
import { rawFromPublicKey } from '../../protocol/audit/checkpoint';
import { decisionEvent, makeKey, tempDir } from './helpers';

const ITERATIONS = Number(process.env.ZG_FLOOD_KILL_ITERATIONS ?? 6);

async function child(dir: string): Promise<void> {
  const privateKey = createPrivateKey(readFileSync(join(dir, '..', 'key.pem'), 'utf8'));
  const key = { privateKey, publicRaw: rawFromPublicKey(createPublicKey(privateKey)) };
  const log = await AuditLog.open({ dir, device: 'gw-flood', key, flushDelayMs: 5 });
  writeSync(1, 'R\n');
  let denied = 0, allowed = 0, n = 0;
  for (;;) {
    for (let i = 0; i < 200; i++, n++) {
      // Three scanners hammering two PLCs; one allowed request in twenty.
      if (n % 20 === 0) { log.record(decisionEvent(n)); allowed++; }
      else { log.record(decisionEvent(n, { decision: 'deny', at: Date.now(), src: `10.66.0.${n % 3}`, asset: n % 2 ? 'plc-a' : 'plc-b' })); denied++; }
    }
    await log.flush();
    writeSync(1, `C ${denied} ${allowed}\n`);
  }
}

function runChild(script: string, dir: string, delayMs: number): Promise<{ denied: number; allowed: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [script], { env: { ...process.env, ZG_FLOOD_CHILD: dir, NODE_PATH: join(process.cwd(), 'node_modules') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const last = { denied: 0, allowed: 0 };
    let killTimer: NodeJS.Timeout | null = null;
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop() as string;
      for (const l of lines) {
        if (l === 'R' && killTimer === null) killTimer = setTimeout(() => c.kill('SIGKILL'), delayMs);
        else if (l.startsWith('C ')) { const [, d2, a] = l.split(' '); last.denied = Number(d2); last.allowed = Number(a); }
      }
    });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const guard = setTimeout(() => c.kill('SIGKILL'), 20_000);
    c.on('error', reject);
    c.on('close', (code, signal) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${err}`));
      else resolve(last);
    });
  });
}

if (process.env.ZG_FLOOD_CHILD) {
  void child(process.env.ZG_FLOOD_CHILD);
} else {
  test(`kill -9 under a deny flood, ${ITERATIONS} times: every answered denial is in the log as a record or a summary count`, async () => {
    const t = tempDir('zg-flood-crash-');
    try {
      const key = makeKey();
      writeFileSync(join(t.dir, 'key.pem'), key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
      const script = join(t.dir, 'child.js');
      copyFileSync(process.argv[1], script);
      let answered = 0, found = 0, summarisedSeen = 0;
      for (let it = 0; it < ITERATIONS; it++) {
        const dir = join(t.dir, `audit-${it}`);
        const reported = await runChild(script, dir, 150 + Math.floor(Math.random() * 250));
        const log = await AuditLog.open({ dir, device: 'gw-flood', key });
        await log.close();
        const rep = await verifyAuditDir(dir, { devicePublicKey: key.publicRaw });
        assert.ok(rep.ok, `iteration ${it}: ${JSON.stringify(rep.error)}`);
        const recs = (await readAuditRecords(dir)).records;
        let denials = 0, allows = 0;
        for (const r of recs) {
          if (r.kind === 'decision' && r.decision?.decision === 'deny') denials++;
          else if (r.kind === 'decision') allows++;
          else if (r.kind === 'summary') { denials += r.summary?.count ?? 0; summarisedSeen += r.summary?.count ?? 0; }
        }
        assert.ok(allows >= reported.allowed, `iteration ${it}: ${allows} allows in the log, ${reported.allowed} committed`);
        assert.ok(denials >= reported.denied, `iteration ${it}: ${denials} denials in the log (records + summary counts), ${reported.denied} answered before the last commit`);
        answered += reported.denied;
        found += Math.min(denials, reported.denied);
      }
      console.log(`  ${ITERATIONS} kills: ${answered} denials answered before the last commit, all accounted for (${summarisedSeen} of them in summaries)`);
      assert.ok(answered > 0, 'the child never committed anything before the kill');
      assert.ok(summarisedSeen > 0, 'the flood was summarised');
      assert.is(found, answered);
    } finally { t.cleanup(); }
  });
  test.run();
}
