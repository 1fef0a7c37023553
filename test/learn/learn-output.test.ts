/**
 * What `policy learn` writes: byte for byte the text the earlier whole-document path wrote (golden
 * files under test/fixtures/learn/golden, written by that path before learn streamed its output;
 * ZG_WRITE_GOLDEN=1 rewrites them), for a generated site learnt from scratch and --from its policy
 * (narrowings and additions), and for the plant fixture; the written file passes `policy check`
 * and `policy test`, and reads back as the document learn reports (its diff and counts).
 * ZG_LEARN_CONDUITS / ZG_LEARN_RECORDS scale the large case (make soak: 10,000 conduits).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emitPolicyYaml } from '../../policy/learn/emit';
import { parsePolicy } from '../../policy/parse';
import { diffPolicies } from '../../policy/diff';
import { generateSite, recordSite } from '../helpers/learn-site';
import { cli, FIX, writeAudit, monday, modbusEvent, tcpEvent, D } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'zg-learn-out-'));
const p = (...x: string[]) => join(root, ...x);
test.after(() => rmSync(root, { recursive: true, force: true }));
const GOLDEN = `${FIX}/golden`;

/** The text without its first line (it names the --from file, a temp path here). */
const body = (text: string): string => text.slice(text.indexOf('\n') + 1);

function golden(name: string, text: string): void {
  const file = `${GOLDEN}/${name}`;
  if (process.env.ZG_WRITE_GOLDEN === '1') { mkdirSync(GOLDEN, { recursive: true }); writeFileSync(file, body(text)); return; }
  assert.ok(existsSync(file), `${file} missing (ZG_WRITE_GOLDEN=1 writes it)`);
  assert.ok(body(text) === readFileSync(file, 'utf8'), `${name} differs from ${file}`);
}

/** Learns, then checks the file with `policy check` and `policy test` and the reported diff against the file's. */
async function learnChecked(args: string[], out: string, base?: string): Promise<{ text: string; json: { conduits: number; tests: number; droppedTests: string[] } }> {
  const r = await cli('policy', 'learn', ...args, '--out', out, '--json');
  assert.is(r.code, 0, r.out + r.err);
  const check = await cli('policy', 'check', out);
  assert.is(check.code, 0, check.out + check.err);
  const t = await cli('policy', 'test', out);
  assert.is(t.code, 0, t.out.slice(0, 2000));
  const json = JSON.parse(r.out);
  const text = readFileSync(out, 'utf8');
  const doc = parsePolicy(text);
  assert.equal([doc.conduits.length, doc.tests.length], [json.conduits, json.tests]);
  if (base) assert.equal(json.diff, JSON.parse(JSON.stringify(diffPolicies(parsePolicy(readFileSync(base, 'utf8')), doc))));
  return { text, json };
}

test('a generated site (60 conduits, 3,000 requests): the first policy and --from its policy, as the whole-document path wrote them', async () => {
  const site = generateSite(42, 60);
  writeFileSync(p('inventory.yaml'), emitPolicyYaml({ ...site, conduits: [] }, { header: ['inventory'], conduit: new Map() }));
  writeFileSync(p('site.yaml'), emitPolicyYaml(site, { header: ['site'], conduit: new Map() }));
  await recordSite(p('audit-site'), site, 3000);
  const first = await learnChecked(['--audit', p('audit-site'), '--from', p('inventory.yaml')], p('first.yaml'), p('inventory.yaml'));
  golden('site-first.yaml', first.text);
  const from = await learnChecked(['--audit', p('audit-site'), '--from', p('site.yaml'), '--slack', '3'], p('from.yaml'), p('site.yaml'));
  golden('site-from.yaml', from.text);
  assert.ok(from.json.conduits > 60, 'narrowed conduits and additions');
});

test('the plant fixture --from plant-v1 (Modbus and TCP, denied and malformed requests), as the whole-document path wrote it', async () => {
  const HMI = '127.70.0.5', NEW = '127.70.0.77';
  await writeAudit(p('audit-plant'), [
    ...[0, 1, 2, 3, 4].map((i) => modbusEvent(monday('09:00') + i, HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 10 + i, 2)),
    modbusEvent(monday('09:02'), '127.70.0.20', 'plc-1', D.allow('eng-writes-plc', 'eng-ws'), 6, 1005, 1),
    modbusEvent(monday('09:03'), NEW, 'plc-1', D.deny('no-conduit', null), 4, 100, 10),
    modbusEvent(monday('09:05'), NEW, 'plc-1', D.deny('malformed', null), 3, 0, 0),
    tcpEvent(monday('10:05'), NEW, 'historian', 443, D.deny('no-conduit', null)),
  ]);
  const r = await learnChecked(['--audit', p('audit-plant'), '--from', `${FIX}/plant-v1.yaml`, '--slack', '5'], p('plant.yaml'), `${FIX}/plant-v1.yaml`);
  golden('plant-from.yaml', r.text);
});

const LARGE = Number(process.env.ZG_LEARN_CONDUITS ?? 300);
const RECORDS = Number(process.env.ZG_LEARN_RECORDS ?? 6000);

test(`a learnt ${LARGE.toLocaleString('en-US')}-conduit site (${RECORDS.toLocaleString('en-US')} requests) passes policy check and policy test, first and --from`, async () => {
  const site = generateSite(7, LARGE);
  writeFileSync(p('large-inventory.yaml'), emitPolicyYaml({ ...site, conduits: [] }, { header: ['inventory'], conduit: new Map() }));
  writeFileSync(p('large.yaml'), emitPolicyYaml(site, { header: ['site'], conduit: new Map() }));
  await recordSite(p('audit-large'), site, RECORDS);
  const first = await learnChecked(['--audit', p('audit-large'), '--from', p('large-inventory.yaml')], p('large-first.yaml'));
  const from = await learnChecked(['--audit', p('audit-large'), '--from', p('large.yaml')], p('large-from.yaml'));
  console.log(`  learnt ${first.json.conduits} conduits, ${first.json.tests} tests (${statSync(p('large-first.yaml')).size} bytes); --from: ${from.json.conduits}, ${from.json.tests} (${statSync(p('large-from.yaml')).size} bytes)`);
  assert.ok(first.json.conduits >= LARGE / 2);
  // A learnt 10,000-conduit policy is 22-33 MB: policy check refused files over 16 MiB.
  const text = readFileSync(p('large-first.yaml'), 'utf8');
  writeFileSync(p('padded.yaml'), `${'# padding to the size of a learnt 10,000-conduit policy\n'.repeat(Math.ceil((17 * 2 ** 20 - text.length) / 56))}${text}`);
  assert.ok(statSync(p('padded.yaml')).size > 17 * 2 ** 20);
  const check = await cli('policy', 'check', p('padded.yaml'));
  assert.is(check.code, 0, check.out + check.err);
});

test.run();
