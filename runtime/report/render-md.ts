/** The compliance report as Markdown (GitHub-flavoured tables). */
import { isoTime, type ComplianceReport } from './model';
import { sectionTables, type ReportSection } from './section';
import { BUILTIN_REPORT_SECTIONS } from './sections/builtin';

function cell(v: unknown): string {
  return String(v ?? '').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function table(head: string[], rows: unknown[][]): string {
  if (rows.length === 0) return '_none_\n';
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n') + '\n';
}

/** Renders the report as Markdown text; `sections` are the protocol parts of its history (a driver registry's, default the built-in ones). */
export function renderMarkdown(r: ComplianceReport, sections: readonly ReportSection[] = BUILTIN_REPORT_SECTIONS): string {
  const inv = r.inventory;
  const out: string[] = [];
  out.push(`# ${r.title}`, '');
  out.push(`Site **${inv.site}** · generated ${isoTime(r.generatedAt)} · policy ${r.policy.source} \`${r.policy.file}\`${r.policy.version ? ` version ${r.policy.version}` : ''} (sha256 \`${r.policy.sha256.slice(0, 16)}…\`)`);
  if (r.audit) out.push(`Audit log \`${r.audit.dir}\`${r.audit.device ? ` (device ${r.audit.device})` : ''} · period ${isoTime(r.period.from)} to ${isoTime(r.period.to)}`);
  out.push('');
  out.push(`${inv.counts.zones} zones, ${inv.counts.assets} assets, ${inv.counts.identities} identities, ${inv.counts.conduits} allowed paths (${inv.counts.modbusPaths} Modbus, ${inv.counts.dnp3Paths ? `${inv.counts.dnp3Paths} DNP3, ` : ''}${inv.counts.iec104Paths ? `${inv.counts.iec104Paths} IEC 104, ` : ''}${inv.counts.tcpPaths} TCP${inv.counts.monitorPaths ? `, ${inv.counts.monitorPaths} in monitor mode` : ''}). Everything else is denied.`, '');

  out.push('## 1. Zones (IEC 62443-3-2 ZCR 3)', '');
  out.push(table(['Zone', 'SL-T', 'Networks', 'Gateway interfaces', 'Assets', 'Identities', 'Description'],
    inv.zones.map((z) => [z.id, z.securityLevel, z.networks.join(', '), z.interfaces.join(', '), z.assets.map((a) => a.id).join(', '), z.identities.map((i) => i.id).join(', '), z.description ?? ''])));
  out.push('### Assets', '');
  out.push(table(['Asset', 'Zone', 'Kind', 'Addresses', 'Services', 'Description'],
    inv.zones.flatMap((z) => z.assets.map((a) => [a.id, z.id, a.kind, a.addresses.join(', '), a.services.join(', '), a.description ?? '']))));

  out.push('## 2. Conduits between zones (IEC 62443-3-2 ZCR 3.5)', '');
  out.push(table(['From zone', 'SL', 'To zone', 'SL', 'Paths'], inv.zoneConduits.map((c) => [c.fromZone, c.fromLevel ?? '-', c.toZone, c.toLevel ?? '-', c.paths.join(', ')])));

  out.push('## 3. Allowed paths, operations and authentication', '');
  out.push(table(['Path', 'From', 'To', 'Protocol / ports', 'Operations', 'Units', 'Addresses', 'Requirements'],
    inv.paths.map((p) => [p.conduit, p.from.join(', '), p.to.join(', '), `${p.protocol} ${p.ports}`, p.operations ? p.operations.functions.join(', ') : 'whole TCP connections', p.operations?.units ?? '-', p.operations?.addresses ?? '-', p.requirements.join('; ')])));

  const dnp3Paths = inv.paths.filter((p) => p.dnp3 !== null);
  if (dnp3Paths.length) {
    out.push('### DNP3 operations per path', '');
    out.push('Each DNP3 request is decided on its own: function, link addresses, objects, control points and values. SELECT-before-OPERATE is enforced per identity; refused requests are answered by the gateway and never reach the outstation.', '');
    out.push(table(['Path', 'Functions', 'Link addresses', 'Objects', 'Points', 'Controls', 'Analog output values', 'Unsolicited'],
      dnp3Paths.map((p) => { const d = p.dnp3!; return [p.conduit, d.functions.join(', '), d.links, d.objects.join('; '), d.points, d.controls, d.values, d.unsolicited ? 'relayed' : 'dropped']; })));
  }

  out.push('## 4. Electronic access points (NERC CIP-005 R1)', '');
  out.push('Each gateway interface at a zone boundary is an electronic access point: inbound traffic is denied unless a path below allows it (CIP-005 R1.3), and every decision is logged.', '');
  out.push(table(['Interface', 'Zone', 'SL-T', 'Inbound paths'], inv.accessPoints.map((a) => [a.interface, a.zone, a.securityLevel, a.inboundPaths.join(', ') || '(none: all denied)'])));

  out.push('## 5. Vendor remote access paths (NERC CIP-003-11 / CIP-005 R2)', '');
  out.push(table(['Path', 'Vendor', 'To', 'Operations', 'Controls'], inv.vendorPaths.map((p) => [p.conduit, p.from.join(', '), p.to.join(', '), p.operations ? `${p.operations.functions.join(', ')}; addresses ${p.operations.addresses}` : `${p.protocol} ${p.ports}`, p.requirements.join('; ')])));
  if (inv.quarantine.length) out.push(`Quarantined (cut off from everything): ${inv.quarantine.join(', ')}`, '');
  out.push(`On policy expiry while offline: ${inv.onExpiry}.`, '');

  const h = r.history;
  if (h) {
    out.push('## 6. Access and refusal history', '');
    if (h.verify) {
      out.push(h.verify.ok
        ? `${h.verify.pinned ? 'Audit log **verified** under the pinned device key' : 'Audit log chain intact but **not verified against a pinned device key** (the key the log names was believed; pass --key)'}: ${h.verify.records} record${h.verify.records === 1 ? '' : 's'}, seq ${h.verify.firstSeq}..${h.verify.lastSeq}, ${h.verify.checkpoints} signed checkpoint${h.verify.checkpoints === 1 ? '' : 's'}, key ${h.verify.key ?? 'none'}.`
        : `Audit log **DOES NOT VERIFY**: ${h.verify.error}. Counts below cover only what could be read.`, '');
    }
    out.push(`${h.records} records in the period: **${h.decisions.allow} allowed requests** (${h.decisions.monitor} in monitor mode), ${h.allowedConnections} allowed connections, **${h.decisions.deny} denied**${h.summarisedDenials ? ` (${h.summarisedDenials} of them counted in deny-flood summaries)` : ''}, ${h.malformed} malformed.`, '');
    out.push('### Allowed per path', '', table(['Path', 'Allowed', 'of which monitor'], h.perConduit.map((c) => [c.conduit, c.allow, c.monitor])));
    out.push('### Denied per reason', '', table(['Reason', 'Denied'], h.perReason.map((x) => [x.reason, x.count])));
    out.push('### Top denied sources', '', table(['Source', 'Identity', 'Denied', 'Reasons'], h.topDeniedSources.map((s) => [s.source, s.identity ?? '', s.deny, s.reasons.join(', ')])));
    out.push(`### Per source${h.perSourceCount > h.perSource.length ? ` (the ${h.perSource.length} busiest of ${h.perSourceCount})` : ''}`, '', table(['Source', 'Identity', 'Allowed', 'Denied'], h.perSource.map((s) => [s.source, s.identity ?? '', s.allow, s.deny])));
    out.push('### Per asset', '', table(['Asset', 'Allowed', 'Denied'], h.perAsset.map((a) => [a.asset, a.allow, a.deny])));
    for (const t of sectionTables(h, sections)) out.push(`### ${t.title}${t.note ? ` (${t.note})` : ''}`, '', table(t.columns, t.rows));
    out.push(`### Logins (${h.logins.ok} successful, ${h.logins.failed} failed)`, '', table(['Time', 'Seq', 'User', 'Event', 'Detail'], h.logins.events.map((e) => [isoTime(e.at), e.seq, e.who, e.what, e.detail])));
    out.push('### Policy bundle activations', '', table(['Time', 'Seq', 'By', 'Event', 'Detail'], h.activations.map((e) => [isoTime(e.at), e.seq, e.who, e.what, e.detail])));
    out.push('### Break-glass', '', table(['Time', 'Seq', 'User', 'Event', 'Detail'], h.breakGlass.map((e) => [isoTime(e.at), e.seq, e.who, e.what, e.detail])));
    out.push('### Grants', '', table(['Time', 'Seq', 'By', 'Event', 'Detail'], h.grants.map((e) => [isoTime(e.at), e.seq, e.who, e.what, e.detail])));
    out.push('### Gaps in the log', '', table(['Seq', 'Time', 'Reason', 'Records lost', 'Range'], h.gaps.map((g) => [g.seq, isoTime(g.at), g.reason, g.count, g.range ?? '-'])));
    out.push('### Decisions over time', '', table(['From', 'Allowed', 'Denied'], h.timeline.buckets.filter((b) => b.allow + b.deny > 0).map((b) => [isoTime(b.start), b.allow, b.deny])));
  }
  return out.join('\n');
}
