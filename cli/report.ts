/**
 * `zonegate report`: compliance evidence from the policy and the audit log, as Markdown or as a
 * self-contained HTML page (IEC 62443-3-2 zones and conduits, NERC CIP-005 access points,
 * CIP-003 vendor remote access, and the access and refusal history of the period).
 */
import { promises as fsp } from 'node:fs';
import type { Command } from './framework';
import { usageError } from './framework';
import { parseTimeOption } from '../protocol/parse-time';
import { ZonegateError } from '../policy/errors';
import { buildComplianceReport } from '../runtime/report/build';
import { renderMarkdown } from '../runtime/report/render-md';
import { renderHtml } from '../runtime/report/render-html';
import { builtinDrivers } from '../runtime/gateway';

export const reportCommand: Command = {
  path: ['report'],
  summary: 'compliance evidence: zones, conduits, paths, access points, vendor access, audit history (md or html)',
  usage: 'report (--policy FILE | --bundle FILE --trust ROOT) [--audit DIR [--key PUBFILE]] [--from T] [--to T] [--format md|html] [--out FILE] [--json]',
  description: `
Builds the report from a policy file (or the policy of a signed bundle, verified against --trust)
and, with --audit, the audit folder of a gateway (or the fleet's copy, <out>/<device>): the log is
verified first (--key pins the device key; default device-key.pub beside the log, or the fleet's
pinned-key.pub) and the result heads the history. --from/--to bound the period: ISO 8601, a date (YYYY-MM-DD,
UTC), epoch ms, now, or a duration back from now (30d). --format html writes one self-contained page (inline CSS and SVG chart, no scripts).
Without --out the report goes to stdout. --json prints a summary of what was written.`,
  options: {
    policy: { type: 'string', value: 'FILE', description: 'policy file (YAML or JSON)' },
    bundle: { type: 'string', value: 'FILE', description: 'signed policy bundle instead of a policy file' },
    trust: { type: 'string', value: 'ROOT', description: 'trust root for --bundle' },
    audit: { type: 'string', value: 'DIR', description: 'audit folder or state folder' },
    key: { type: 'string', value: 'PUBFILE', description: 'device public key to pin when verifying the log' },
    from: { type: 'string', value: 'T', description: 'period start (ISO 8601, YYYY-MM-DD, epoch ms, now, or 30d back)' },
    to: { type: 'string', value: 'T', description: 'period end (inclusive)' },
    format: { type: 'string', value: 'md|html', description: 'output format (default md)' },
    out: { type: 'string', value: 'FILE', description: 'write the report here (default stdout)' },
    title: { type: 'string', value: 'TEXT', description: 'report title' },
  },
  json: true,
  async run(ctx) {
    const s = (k: string) => (typeof ctx.options[k] === 'string' ? (ctx.options[k] as string) : undefined);
    const format = s('format') ?? 'md';
    const sections = builtinDrivers().reportSections();
    if (format !== 'md' && format !== 'html') throw usageError(`--format must be md or html, got ${JSON.stringify(format)}`);
    if (!s('policy') && !s('bundle')) throw usageError('--policy FILE or --bundle FILE --trust ROOT is required');
    if (s('policy') && s('bundle')) throw usageError('--policy and --bundle exclude each other');
    if (s('bundle') && !s('trust')) throw usageError('--bundle needs --trust ROOT');
    if (s('key') && !s('audit')) throw usageError('--key is for --audit');
    if (!s('out') && ctx.json) throw usageError('--json needs --out FILE (the report itself would go to stdout)');
    const when = (flag: string, text: string) => parseTimeOption(text, { flag, now: Date.now(), durations: 'past' });
    const from = s('from') !== undefined ? when('--from', s('from') as string) : undefined;
    const to = s('to') !== undefined ? when('--to', s('to') as string) : undefined;
    if (from !== undefined && to !== undefined && from > to) throw usageError('--from is after --to');
    const report = await buildComplianceReport({
      policyFile: s('policy'), bundle: s('bundle') ? { file: s('bundle') as string, trust: s('trust') as string } : undefined,
      auditDir: s('audit'), keyFile: s('key'), from, to, title: s('title'), sections,
    });
    const text = format === 'html' ? renderHtml(report, sections) : renderMarkdown(report, sections);
    const out = s('out');
    if (out) {
      try { await fsp.writeFile(out, text); } catch (e) {
        throw new ZonegateError('ERR_USAGE', `cannot write ${out}: ${(e as Error).message}`);
      }
    } else {
      ctx.out(text);
    }
    const h = report.history;
    const summary = {
      ok: h?.verify ? h.verify.ok : true, out: out ?? null, format, bytes: Buffer.byteLength(text), site: report.inventory.site,
      zones: report.inventory.counts.zones, paths: report.inventory.counts.conduits, vendorPaths: report.inventory.vendorPaths.length,
      history: h ? { records: h.records, allowed: h.decisions.allow, allowedConnections: h.allowedConnections, denied: h.decisions.deny, verified: h.verify ? h.verify.ok && h.verify.pinned : null, error: h.verify?.error ?? null } : null,
    };
    if (ctx.json) ctx.printJson(summary);
    else if (out) {
      ctx.out(`wrote ${out} (${format}, ${summary.bytes} bytes): ${summary.zones} zones, ${summary.paths} paths${h ? `, ${h.records} audit records (${h.decisions.allow} allowed requests, ${h.allowedConnections} allowed connections, ${h.decisions.deny} denied), log ${h.verify?.ok ? (h.verify.pinned ? 'verified' : 'chain intact, key NOT pinned') : 'DOES NOT VERIFY'}` : ''}`);
    }
    if (h?.verify && !h.verify.ok) {
      ctx.err(`zonegate report: the audit log does not verify: ${h.verify.error}`);
      return 1;
    }
    return 0;
  },
};
