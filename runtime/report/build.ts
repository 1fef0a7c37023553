/**
 * Gathers a compliance report: the policy (a policy file, or the policy inside a signed bundle
 * verified against a trust root), and optionally an audit folder, verified and read.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import type { PolicyDocument } from '../../policy/types';
import { verifyBundle } from '../../policy/bundle/verify';
import { readTrustRoot } from '../../policy/bundle/read-trust-root';
import { trustFileBytes } from '../../policy/bundle/trust-file';
import { DEFAULT_MAX_BUNDLE_BYTES } from '../../policy/bundle/types';
import { validatePolicy } from '../../policy/validate';
import { loadPolicyFile } from '../policy-file';
import { readAuditRecords, resolveAuditDir } from '../../protocol/audit/query';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { parseDevicePublicKey, DEVICE_PUBLIC_KEY_FILE } from '../../protocol/device-public-key';
import { buildInventory } from './inventory';
import { buildHistory } from './history';
import type { ComplianceReport } from './model';
import type { ReportSection } from './section';

export interface ReportInput {
  /** A policy file (YAML/JSON) ... */
  policyFile?: string;
  /** ... or a signed policy bundle with the trust root that must have signed it. */
  bundle?: { file: string; trust: string };
  /** An audit folder (or a state folder holding audit/). */
  auditDir?: string;
  /** The device key to pin when verifying (SPKI PEM or hex file); default: the collector's pinned-key.pub in the folder, else device-key.pub beside it. */
  keyFile?: string;
  from?: number;
  to?: number;
  title?: string;
  now?: () => number;
  /** The protocol parts of the history (a driver registry's); default the built-in ones. */
  sections?: readonly ReportSection[];
}

async function readCapped(file: string, max: number, what: string): Promise<Uint8Array> {
  let size: number;
  try { size = (await fsp.stat(file)).size; } catch (e) {
    throw new ZonegateError('ERR_USAGE', `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (size > max) throw new ZonegateError('ERR_BUNDLE_SIZE', `${what} ${file} is ${size} bytes, more than ${max}`);
  return new Uint8Array(await fsp.readFile(file));
}

const exists = (p: string): Promise<boolean> => fsp.stat(p).then(() => true, () => false);

/** Loads, verifies and counts; throws ZonegateError for an unreadable or invalid policy or audit folder. */
export async function buildComplianceReport(i: ReportInput): Promise<ComplianceReport> {
  const now = i.now ?? Date.now;
  let doc: PolicyDocument;
  let policy: ComplianceReport['policy'];
  if (i.bundle) {
    const root = readTrustRoot(trustFileBytes(await readCapped(i.bundle.trust, 1024 * 1024, 'trust root')));
    const bytes = trustFileBytes(await readCapped(i.bundle.file, DEFAULT_MAX_BUNDLE_BYTES, 'bundle'));
    // A report may describe a bundle that has since expired: signatures count, expiry does not.
    const b = verifyBundle(bytes, { trustRoot: root, now: now(), ignoreExpiry: true, expectType: 'policy' });
    if (b.type !== 'policy') throw new ZonegateError('ERR_BUNDLE_TYPE', `${i.bundle.file} is a ${b.type} bundle, not a policy`);
    doc = validatePolicy((b.body as { policy: unknown }).policy, { file: `${i.bundle.file} (policy)` });
    policy = { file: i.bundle.file, sha256: b.hash, source: 'bundle', version: String(b.body.version) };
  } else if (i.policyFile) {
    const loaded = await loadPolicyFile(i.policyFile);
    doc = loaded.doc;
    policy = { file: i.policyFile, sha256: createHash('sha256').update(loaded.text).digest('hex'), source: 'file', version: null };
  } else {
    throw new TypeError('buildComplianceReport: policyFile or bundle is required');
  }
  const inventory = buildInventory(doc);

  let history: ComplianceReport['history'] = null;
  let audit: ComplianceReport['audit'] = null;
  if (i.auditDir) {
    const dir = await resolveAuditDir(i.auditDir);
    try { await fsp.readdir(dir); } catch (e) {
      throw new ZonegateError('ERR_AUDIT_VERIFY', `cannot read audit folder ${dir}: ${(e as Error).message}`, { cause: e });
    }
    let keyFile = i.keyFile ?? null;
    if (keyFile === null) {
      // The same order as `audit verify`: the collector's pinned key, then the device's own beside the log.
      for (const c of [join(dir, 'pinned-key.pub'), join(dirname(dir), DEVICE_PUBLIC_KEY_FILE)]) if (await exists(c)) { keyFile = c; break; }
    }
    const devicePublicKey = keyFile ? parseDevicePublicKey(await fsp.readFile(keyFile, 'utf8'), keyFile) : undefined;
    const verify = await verifyAuditDir(dir, { devicePublicKey });
    const { records } = await readAuditRecords(dir, { since: i.from, until: i.to });
    history = buildHistory({ records, from: i.from, to: i.to, verify, sections: i.sections });
    audit = { dir, device: verify.lastCheckpoint?.device ?? null };
  }
  return {
    title: i.title ?? `Zone and conduit compliance report: ${doc.site}`,
    generatedAt: now(),
    policy,
    audit,
    period: { from: i.from ?? history?.from ?? null, to: i.to ?? history?.to ?? null },
    inventory,
    history,
  };
}
