/**
 * Charts drawn on the server as inline SVG: a telemetry sparkline and the stacked denial bars.
 * Pure functions from numbers to markup; every label escaped; every link built by the caller.
 */
import { escapeHtml } from '../../protocol/web/http';

/** A 100×20 polyline of `values` (0..max, default the largest value); '' for fewer than 2 points. */
export function sparkline(values: readonly number[], o: { max?: number; title?: string } = {}): string {
  if (values.length < 2) return '';
  const max = o.max ?? Math.max(1, ...values);
  const pts = values.map((v, i) => `${((i / (values.length - 1)) * 100).toFixed(1)},${(19 - (Math.min(max, Math.max(0, v)) / max) * 18).toFixed(1)}`).join(' ');
  return `<svg class="spark" viewBox="0 0 100 20" width="100" height="20" role="img"><title>${escapeHtml(o.title ?? '')}</title><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${pts}"/></svg>`;
}

/** Eight colours that stay apart for the common kinds of colour blindness (Okabe–Ito). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

export interface StackedBars {
  /** Bucket starts, ascending, and each bucket's link (narrows the time range to it). */
  buckets: { label: string; href: string }[];
  /** One series per group (reason or asset), counts per bucket, and the link narrowing to it. */
  series: { name: string; href: string; counts: number[] }[];
  title: string;
}

/**
 * Stacked bars, one per bucket, a segment per series, with a legend; clicking a bar narrows the
 * time range, clicking a legend entry or a segment narrows to that group (plain links).
 */
export function stackedBarChart(c: StackedBars): string {
  const W = 720, H = 240, left = 40, bottom = 40, top = 10;
  const n = c.buckets.length;
  const totals = c.buckets.map((_, i) => c.series.reduce((s, x) => s + (x.counts[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const bw = n > 0 ? (W - left - 10) / n : 0;
  const y = (v: number) => H - bottom - (v / max) * (H - bottom - top);
  const parts: string[] = [];
  parts.push(`<line x1="${left}" y1="${H - bottom}" x2="${W - 5}" y2="${H - bottom}" stroke="#888"/>`);
  parts.push(`<text x="${left - 4}" y="${top + 8}" text-anchor="end" font-size="10">${max}</text><text x="${left - 4}" y="${H - bottom}" text-anchor="end" font-size="10">0</text>`);
  for (let i = 0; i < n; i++) {
    const x = left + i * bw;
    let acc = 0;
    const segs: string[] = [];
    c.series.forEach((s, k) => {
      const v = s.counts[i] ?? 0;
      if (v <= 0) return;
      const y0 = y(acc), y1 = y(acc + v);
      acc += v;
      segs.push(`<a href="${escapeHtml(s.href)}"><rect class="seg" x="${(x + 1).toFixed(1)}" y="${y1.toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${Math.max(0.5, y0 - y1).toFixed(1)}" fill="${PALETTE[k % PALETTE.length]}"><title>${escapeHtml(`${s.name}: ${v} at ${c.buckets[i].label}`)}</title></rect></a>`);
    });
    const b = c.buckets[i];
    parts.push(`<a href="${escapeHtml(b.href)}" class="bucket"><rect x="${x.toFixed(1)}" y="${top}" width="${bw.toFixed(1)}" height="${H - bottom - top}" fill="transparent"><title>${escapeHtml(`${b.label}: ${totals[i]} denials`)}</title></rect></a>`, ...segs);
    if (n <= 12 || i % Math.ceil(n / 12) === 0) parts.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${H - bottom + 14}" text-anchor="middle" font-size="10">${escapeHtml(b.label)}</text>`);
  }
  const legend = c.series.map((s, k) => `<li><a href="${escapeHtml(s.href)}"><span class="sw" style="background:${PALETTE[k % PALETTE.length]}"></span>${escapeHtml(s.name)} (${s.counts.reduce((a, b) => a + b, 0)})</a></li>`).join('');
  return `<figure class="chart"><svg id="denials-chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeHtml(c.title)}"><title>${escapeHtml(c.title)}</title>${parts.join('')}</svg><ul class="legend">${legend}</ul></figure>`;
}
