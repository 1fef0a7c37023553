/** The `audit-resync` codec: round trip, caps checked before decoding, every malformed shape refused with its reason. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeAuditResync, encodeAuditResync, resyncCollectorLabel, MAX_RESYNC_SPREAD_MS } from '../../../protocol/audit/upload-batch';

test('round trip; unknown fields are ignored', () => {
  const r = { site: 'plant-1', collector: 'zonegate-audit-collect-plant-1', spreadMs: 5000 };
  assert.equal(decodeAuditResync(encodeAuditResync(r)), { resync: r });
  assert.equal(decodeAuditResync(Buffer.from(JSON.stringify({ v: 1, site: 's', collector: 'c', spreadMs: 0, later: [1] }))), { resync: { site: 's', collector: 'c', spreadMs: 0 } });
});

test('malformed announcements: the reason, never a throw', () => {
  const j = (o: unknown) => Buffer.from(JSON.stringify(o));
  const cases: [Uint8Array, string][] = [
    [Buffer.alloc(0), 'empty payload'],
    [Buffer.alloc(1025, 0x20), 'resync of 1025 bytes exceeds 1024'],
    [Buffer.from('{"v":1'), 'not JSON'],
    [Buffer.from([0xff, 0xfe, 0x00]), 'not JSON'],
    [j([1, 2]), 'not a JSON object'],
    [j(null), 'not a JSON object'],
    [j({ v: '1', site: 's', collector: 'c', spreadMs: 0 }), 'unknown resync version "1"'],
    [j({ v: 1, collector: 'c', spreadMs: 0 }), 'site missing'],
    [j({ v: 1, site: 's', collector: '', spreadMs: 0 }), 'collector is not a string of 1 to 128 bytes'],
    [j({ v: 1, site: 's', collector: 'é'.repeat(65), spreadMs: 0 }), 'collector is not a string of 1 to 128 bytes'],
    [j({ v: 1, site: 's', collector: 'c', spreadMs: -1 }), 'spreadMs is not an integer from 0 to 60000'],
    [j({ v: 1, site: 's', collector: 'c', spreadMs: 1.5 }), 'spreadMs is not an integer from 0 to 60000'],
    [j({ v: 1, site: 's', collector: 'c', spreadMs: MAX_RESYNC_SPREAD_MS + 1 }), 'spreadMs is not an integer from 0 to 60000'],
    [Buffer.from('{"__proto__":{"v":1},"site":"s","collector":"c","spreadMs":0}'), 'unknown resync version undefined'],
  ];
  for (const [bytes, error] of cases) assert.equal(decodeAuditResync(bytes), { error }, Buffer.from(bytes).toString('utf8').slice(0, 80));
  assert.throws(() => encodeAuditResync({ site: 's', collector: 'c', spreadMs: 61_000 }), /encodeAuditResync: spreadMs is not an integer/);
});

test('the collector label is cut to 128 bytes on a character boundary', () => {
  assert.is(resyncCollectorLabel('c1'), 'c1');
  const long = resyncCollectorLabel(`zonegate-audit-collect-${'é'.repeat(100)}`);
  assert.ok(Buffer.byteLength(long) <= 128 && !long.includes('\ufffd'));
  assert.is(decodeAuditResync(encodeAuditResync({ site: 's', collector: long, spreadMs: 1 })).resync?.collector, long);
});

test.run();
