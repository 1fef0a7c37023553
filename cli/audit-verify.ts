/** `zonegate audit verify DIR`: checks an audit folder's frames, chain, seqs and checkpoints. */
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from './framework';
import { verifyAuditDir, type VerifyReport } from '../protocol/audit/verify';
import { resolveAuditDir } from '../protocol/audit/query';
import { parseDevicePublicKey, DEVICE_PUBLIC_KEY_FILE } from '../protocol/device-public-key';

/** The key `fleet audit collect` pins per device, in OUT/DEVICE (fleet/audit-device-store.ts; runtime/ does not import fleet/). */
const PINNED_KEY_FILE = 'pinned-key.pub';
import { ZonegateError } from '../policy/errors';

export const auditVerifyCommand: Command = {
  path: ['audit', 'verify'],
  summary: 'verify an audit log: frames, CRCs, hash chain, sequence gaps, signed checkpoints',
  usage: 'audit verify DIR [--key PUBFILE] [--json]',
  description: `
DIR is an audit folder or a state folder holding audit/. Exit 0 when the log verifies, 1 naming
the first record that does not (segment file, offset, seq, what is wrong).
Checkpoint signatures are checked against --key (SPKI PEM as in device-key.pub, or 64 hex digits).
Without --key: the fleet collector's ${PINNED_KEY_FILE} in DIR (OUT/DEVICE of \`fleet audit collect\`,
pinned when the device was first seen), else the state folder's ${DEVICE_PUBLIC_KEY_FILE} (it sits
beside the log, so it proves less than a key you pinned), else the key the first checkpoint names
(NOT pinned). With a pinned key, a log no checkpoint signs, or with more unsigned records than the
device ever leaves, does not verify (checkpoints were stripped).
A cut of the log's tail is only detected against checkpoint.latest or a checkpoint the fleet holds.`,
  options: { key: { type: 'string', value: 'PUBFILE', description: 'device public key to pin' } },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const dir = await resolveAuditDir(ctx.positionals[0]);
    try {
      await fsp.readdir(dir);
    } catch (e) {
      throw new ZonegateError('ERR_AUDIT_VERIFY', `cannot read ${dir}: ${(e as Error).message}`, { cause: e });
    }
    let keyFile = typeof ctx.options.key === 'string' ? ctx.options.key : null;
    let keySource = 'given';
    if (keyFile === null) {
      // The same files `report` pins, in the same order of trust: the collector's, then the device's own.
      const candidates: [string, string][] = [[join(dir, PINNED_KEY_FILE), "the collector's pinned key"], [join(dirname(dir), DEVICE_PUBLIC_KEY_FILE), 'state folder']];
      for (const [file, source] of candidates) {
        if (await fsp.stat(file).then(() => true, () => false)) { keyFile = file; keySource = source; break; }
      }
    }
    let devicePublicKey: Buffer | undefined;
    if (keyFile !== null) {
      let text: string;
      try { text = await fsp.readFile(keyFile, 'utf8'); } catch (e) {
        throw new ZonegateError('ERR_FILE', `cannot read key file ${keyFile}: ${(e as Error).message}`);
      }
      devicePublicKey = parseDevicePublicKey(text, keyFile);
    }
    const report = await verifyAuditDir(dir, { devicePublicKey });
    // An empty folder is not a verified log: the records an auditor asked for are not there.
    if (report.ok && report.segments === 0) throw new ZonegateError('ERR_AUDIT_VERIFY', `no audit log in ${dir} (no segment files): nothing to verify`);
    if (ctx.json) {
      ctx.printJson({ ...report, keyFile, keySource: keyFile ? keySource : report.key?.source ?? null });
      return report.ok ? 0 : 1;
    }
    ctx.out(describeReport(report, keyFile ? `${keyFile} (${keySource})` : null));
    return report.ok ? 0 : 1;
  },
};

function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

/** The human summary of a verify report. */
export function describeReport(r: VerifyReport, keyFile: string | null): string {
  const lines: string[] = [];
  if (r.ok) lines.push(`audit log verified: ${r.dir}`);
  else {
    const e = r.error!;
    const where = [e.segment, e.offset !== null ? `offset ${e.offset}` : null, e.seq !== null ? `seq ${e.seq}` : null].filter(Boolean).join(', ');
    lines.push(`audit log does NOT verify: ${r.dir}`, `  first bad record: ${where || '(end of log)'}`, `  ${e.code}: ${e.message}`);
    lines.push(`  verified before it: ${r.records} record(s)${r.lastSeq !== null ? ` through seq ${r.lastSeq}` : ''}`);
    return lines.join('\n');
  }
  lines.push(`  records: ${r.records} in ${r.segments} segment(s)`);
  lines.push(`  seq: ${r.firstSeq ?? '-'} .. ${r.lastSeq ?? '-'}${r.startsMidChain ? ` (starts mid-chain: older records ${r.startExplained ? 'evicted, see gap record' : 'removed after upload'})` : ''}`);
  lines.push(`  time: ${iso(r.firstAt)} .. ${iso(r.lastAt)}`);
  lines.push(`  checkpoints: ${r.checkpoints}${r.lastCheckpoint ? `, last at seq ${r.lastCheckpoint.recordSeq} (${iso(r.lastCheckpoint.at)}, device ${r.lastCheckpoint.device})` : ''}`);
  lines.push(`  key: ${r.key ? `${r.key.hex.slice(0, 16)}… ${keyFile ? `pinned, from ${keyFile}` : r.key.source === 'checkpoint' ? 'from the first checkpoint (NOT pinned: pass --key)' : 'pinned'}` : 'none (no checkpoints; NOT pinned)'}`);
  if (r.recordsAfterLastCheckpoint > 0) lines.push(`  records after the last checkpoint: ${r.recordsAfterLastCheckpoint} (chained, not signed)`);
  for (const g of r.gaps) lines.push(`  gap at seq ${g.recordSeq}: ${g.count} record(s) lost (${g.reason}${g.fromSeq !== undefined ? `, seq ${g.fromSeq}..${g.toSeq}` : ''})`);
  if (r.summaries > 0) lines.push(`  deny-flood summaries: ${r.summaries}`);
  if (r.tornTail) lines.push(`  torn tail: ${r.tornTail.bytes} byte(s) at ${r.tornTail.segment} offset ${r.tornTail.offset} (an interrupted write; removed when the log is next opened)`);
  for (const a of r.anchors) lines.push(`  anchor ${a.source}: seq ${a.recordSeq} ${a.status}`);
  return lines.join('\n');
}
