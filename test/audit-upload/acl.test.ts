// The upload under examples/mosquitto-acl.conf in a REAL mosquitto with password users: gateway
// gw-1 uploads on its own audit topic and reads its own audit/ack, the collector runs as the
// fleet user, and gw-2 cannot inject batches on gw-1's topic (the broker refuses them, so the
// topic's device id is the authenticated user's). The collector's `audit-resync` announcement
// reaches gw-1 through the ACL (its site's `all/+` line), and no gateway may publish one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../runtime/audit/log';
import { createAuditUploader } from '../../runtime/audit/upload';
import { encodeAuditBatch, encodeAuditResync } from '../../protocol/audit/upload-batch';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { createMqttSync } from '../../runtime/sync/mqtt-sync';
import { auditResyncTopic, deviceTopic } from '../../protocol/mqtt/topics';
import { startCollector } from '../../fleet/audit-collect-mqtt';
import { startMosquitto, skipReason } from '../helpers/mosquitto';
import { fakeHandlers, observer, waitFor } from '../sync/helpers';
import { decisionEvent, makeKey, tempDir } from '../audit/helpers';

test('gw-1 uploads through the example ACL; gw-2 cannot write on gw-1\'s audit topic', async () => {
  const skip = skipReason();
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const users = { 'gw-1': 'pw-gw-1', 'gw-2': 'pw-gw-2', 'zonegate-fleet': 'pw-fleet' };
  const broker = await startMosquitto({ users, acl: readFileSync('examples/mosquitto-acl.conf', 'utf8') });
  const t = tempDir('zg-upload-acl-');
  const key = makeKey();
  const pw = join(t.dir, 'fleet.pw');
  writeFileSync(pw, 'pw-fleet\n');
  const log = await AuditLog.open({ dir: join(t.dir, 'audit'), device: 'gw-1', key, checkpointEvery: 20, flushDelayMs: 1, flood: false });
  const sync = createMqttSync({ site: 'plant-1', device: 'gw-1', url: broker.url, handlers: fakeHandlers().handlers, runtimeVersion: 'test', clientOptions: { username: 'gw-1', password: 'pw-gw-1' } });
  const out = join(t.dir, 'fleet');
  const intruder = await observer(broker.url, { username: 'gw-2', password: 'pw-gw-2' });
  const uploader = createAuditUploader({ log, device: 'gw-1', site: 'plant-1', publish: (b) => sync.publishAuditBatch(b), onAck: (cb) => sync.onAuditAck(cb), onResync: (cb) => sync.onAuditResync(cb), pollMs: 50 });
  let coll: Awaited<ReturnType<typeof startCollector>> | null = null;
  try {
    // gw-2 may not announce a resync to the site (only the fleet user may).
    const forged = await new Promise<Error | undefined>((resolve) => intruder.publish(auditResyncTopic('plant-1'), encodeAuditResync({ site: 'plant-1', collector: 'gw-2', spreadMs: 0 }), { qos: 1 }, (e) => resolve(e ?? undefined)));
    assert.match(String(forged?.message), /[Nn]ot authori[sz]ed/);
    await sync.start();
    uploader.start();
    // gw-1's subscription is in place once an announcement by the fleet user reaches it.
    const fleet = await observer(broker.url, { username: 'zonegate-fleet', password: 'pw-fleet' });
    for (let i = 0; uploader.status().resyncs === 0; i++) {
      if (i === 200) assert.unreachable('gw-1 never heard the fleet user\'s announcement');
      await fleet.publishAsync(auditResyncTopic('plant-1'), encodeAuditResync({ site: 'plant-1', collector: 'probe', spreadMs: 0 }), { qos: 1 });
      await new Promise((r) => setTimeout(r, 50));
    }
    await fleet.endAsync();
    const heard = uploader.status().resyncs;
    const announced: number[] = [];
    coll = await startCollector({ broker: { url: broker.url, username: 'zonegate-fleet', passwordFile: pw }, site: 'plant-1', out, onResync: (ms) => announced.push(ms) });
    await waitFor(() => uploader.status().resyncs === heard + 1, 'gw-1 heard the collector announce itself', 20_000);
    assert.equal(announced, [500]);
    assert.is(sync.status().messagesRefused, 0);

    // gw-2 publishes a (genuine-looking) batch for gw-1 first: the broker refuses it.
    const other = await AuditLog.open({ dir: join(t.dir, 'other'), device: 'gw-1', key: makeKey(), flushDelayMs: 1, flood: false });
    other.record(decisionEvent(0));
    await other.close();
    const fake = encodeAuditBatch({ device: 'gw-1', site: 'plant-1', fromSeq: 0, records: (await other.readFrom(0, 10)).records.map((r) => r.payload) });
    const err = await new Promise<Error | undefined>((resolve) => intruder.publish(deviceTopic({ site: 'plant-1', device: 'gw-1', kind: 'audit' }), fake, { qos: 1 }, (e) => resolve(e ?? undefined)));
    assert.ok(err, 'the broker refused gw-2\'s publish');
    assert.match(String(err!.message), /[Nn]ot authori[sz]ed/);

    for (let i = 0; i < 60; i++) log.record(decisionEvent(i));
    await log.flush();
    uploader.kick();
    await waitFor(() => uploader.status().ackedThrough === log.status().nextSeq - 1, 'gw-1 fully acked', 30_000);
    await coll.collector.idle();
    assert.is(coll.collector.status().refused, 0);
    assert.is(uploader.status().resyncs, heard + 1, 'gw-2\'s forged announcement never arrived');
    const rep = await verifyAuditDir(join(out, 'gw-1'), { devicePublicKey: key.publicRaw });
    assert.ok(rep.ok, JSON.stringify(rep.error));
    assert.is(rep.records, log.status().nextSeq);
  } finally {
    uploader.stop();
    await sync.stop();
    await coll?.close();
    await intruder.endAsync();
    await log.close();
    await broker.close();
    t.cleanup();
  }
});

test.run();
