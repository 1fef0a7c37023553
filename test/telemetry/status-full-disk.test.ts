// Issue 20 item 2: on a full disk (a real tmpfs this test mounts, as root) status.json is still
// written (in place, in the space it keeps reserved) and `zonegate status` says the gateway runs
// with a full disk instead of "not running". SKIPs with the reason when a tmpfs cannot be mounted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, unlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readStatusFile, writeStatusFile, STATUS_RESERVE_BYTES, type DaemonStatus } from '../../runtime/telemetry/status-file';
import { statusCommand } from '../../cli/status';
import { runCli } from '../../cli/framework';
import { mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs';
import { tempDir } from '../audit/helpers';

const skip = tmpfsUnavailable();

function status(o: { uptimeMs: number; alarms?: DaemonStatus['alarms'] }): DaemonStatus {
  return {
    device: 'gw-full', site: 'lab', state: 'running', startedAt: 1_000, uptimeMs: o.uptimeMs,
    config: { file: 'gateway.yaml', loadedAt: 1_000, reloads: 0, failedReloads: 0 },
    policy: { version: '7', source: 'signed', file: null, warning: null, activatedAt: 1_000, conduits: 3, lastError: null },
    listeners: [],
    alarms: o.alarms ?? [],
    audit: { recorded: 0 } as unknown as DaemonStatus['audit'],
  };
}

if (skip) {
  test(`SKIP full-disk status test: ${skip}`, () => { console.log(`  SKIP: ${skip}`); });
} else {
  test('a full disk: status.json is rewritten in place, and `zonegate status` says DISK FULL, exit 0', async () => {
    const fs = mountTmpfs(256 * 1024);
    const t = tempDir('zg-status-full-');
    try {
      const cfg = join(t.dir, 'gateway.yaml');
      writeFileSync(cfg, `device: gw-full\nsite: lab\nstateDir: ${fs.dir}\npolicyFile: p.yaml\nlisteners:\n  - { listen: 127.0.0.1:15020, asset: plc-feeder-1, service: modbus, upstream: 127.0.0.1:16020 }\n`);
      const first = await writeStatusFile(fs.dir, status({ uptimeMs: 60_000 }));
      assert.equal(first, { mode: 'atomic', error: null });
      assert.is(statSync(join(fs.dir, 'status.json')).size, STATUS_RESERVE_BYTES, 'its space is reserved');
      fs.fill('filler');
      // A new file cannot be written any more ...
      try { writeFileSync(join(fs.dir, 'probe'), Buffer.alloc(8192)); assert.unreachable('the disk is not full'); } catch (e) { assert.is((e as NodeJS.ErrnoException).code, 'ENOSPC'); }
      // ... but the status can.
      const alarm = { id: 'disk-full', severity: 'critical' as const, message: 'disk full in the state folder (audit log: writes fail with ENOSPC)', since: 5_000 };
      const r = await writeStatusFile(fs.dir, status({ uptimeMs: 7_200_000, alarms: [alarm] }));
      assert.is(r.mode, 'in-place');
      assert.match(r.error ?? '', 'ENOSPC');
      const read = await readStatusFile(fs.dir);
      assert.is(read.state, 'running');
      assert.is(read.state === 'running' && read.doc.status.uptimeMs, 7_200_000, 'the new status, not the old one');
      const out: string[] = [];
      const code = await runCli(['status', '--config', cfg], [statusCommand], { out: (s) => out.push(s), err: (s) => out.push(s) }, new AbortController().signal);
      assert.is(code, 0, out.join('\n'));
      assert.match(out.join('\n'), 'zonegate running: device gw-full');
      assert.match(out.join('\n'), 'DISK FULL: disk full in the state folder (audit log: writes fail with ENOSPC)');
      // Room again: the atomic path is back.
      unlinkSync(join(fs.dir, 'filler'));
      assert.equal(await writeStatusFile(fs.dir, status({ uptimeMs: 7_300_000 })), { mode: 'atomic', error: null });
    } finally { fs.unmount(); t.cleanup(); }
  });
}

test.run();
