// Issue 20 item 4: on a full disk (a real tmpfs this test mounts, as root), the audit log deletes
// segments the collector acknowledged and retries the batch it was writing: no record is lost
// while acknowledged ones can make room. SKIPs with the reason when a tmpfs cannot be mounted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { AuditLog, type AuditAlarm } from '../../runtime/audit/log';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { readAuditRecords } from '../../protocol/audit/query';
import { decisionEvent, makeKey } from './helpers';
import { mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs';

const skip = tmpfsUnavailable();
const key = makeKey();

if (skip) {
  test(`SKIP full-disk audit test: ${skip}`, () => { console.log(`  SKIP: ${skip}`); });
} else {
  test('a full disk: acknowledged segments are evicted first and the batch is retried, nothing lost', async () => {
    const fs = mountTmpfs(320 * 1024);
    try {
      const dir = join(fs.dir, 'audit');
      const alarms: AuditAlarm[] = [];
      const log = await AuditLog.open({ dir, device: 'gw-full', key, segmentBytes: 8192, maxBytes: 64 * 1024 * 1024, flushDelayMs: 1, retryMs: 5, onAlarm: (a) => alarms.push(a) });
      let n = 0;
      for (let round = 0; round < 80; round++) {
        for (let i = 0; i < 50; i++, n++) log.record({ ...decisionEvent(n), detail: { n } });
        await log.flush();
        // The collector acknowledges what it received, one round behind.
        const st = log.status();
        if (st.nextSeq > 60) log.uploadedThrough(st.nextSeq - 60);
      }
      for (let k = 0; k < 100 && log.status().queueDepth > 0; k++) await log.flush();
      const st = log.status();
      await log.close();
      assert.ok(alarms.some((a) => a.code === 'audit-write-failed' && a.active && /ENOSPC/.test(a.message)), 'the disk never filled: the test proves nothing');
      assert.is(st.alarms.find((a) => a.code === 'audit-write-failed')?.active, false, 'the alarm cleared once writes went through');
      assert.is(st.dropped.writeFailed, 0);
      assert.is(st.dropped.evictedUnuploaded, 0);
      const recs = (await readAuditRecords(dir)).records;
      assert.equal(recs.filter((r) => r.kind === 'gap'), [], 'no record was lost');
      const ns = recs.filter((r) => r.kind === 'decision').map((r) => (r.detail as { n: number }).n);
      const first = ns[0];
      assert.equal(ns, Array.from({ length: n - first }, (_, i) => first + i), 'every record after the acknowledged ones is there, in order');
      assert.ok(first > 0, 'acknowledged records made room');
      const rep = await verifyAuditDir(dir, { devicePublicKey: key.publicRaw });
      assert.is(rep.ok, true, JSON.stringify(rep.error));
    } finally { fs.unmount(); }
  });
}

test.run();
