/** Decisions over time as an inline SVG stacked bar chart (no scripts, no external resources). */
import type { TimeBucket } from './history';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function niceMax(n: number): number {
  if (n <= 5) return 5;
  const p = Math.pow(10, Math.floor(Math.log10(n)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function label(ms: number, bucketMs: number): string {
  const iso = new Date(ms).toISOString();
  return bucketMs >= 86_400_000 ? iso.slice(0, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/** An SVG of allowed (bottom) and denied (top) decisions per bucket, with a y axis and time labels. */
export function decisionsChartSvg(o: { buckets: TimeBucket[]; bucketMs: number; width?: number; height?: number }): string {
  const W = o.width ?? 860;
  const H = o.height ?? 260;
  const left = 52, right = 12, top = 16, bottom = 48;
  const pw = W - left - right, ph = H - top - bottom;
  const max = niceMax(Math.max(1, ...o.buckets.map((b) => b.allow + b.deny)));
  const n = Math.max(1, o.buckets.length);
  const bw = pw / n;
  const y = (v: number): number => top + ph - (v / max) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Allowed and denied decisions over time">`);
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e6ea"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#5b6470">${Number.isInteger(v) ? v : v.toFixed(1)}</text>`);
  }
  const every = Math.max(1, Math.ceil(n / 8));
  o.buckets.forEach((b, i) => {
    const x = left + i * bw + Math.min(2, bw * 0.15);
    const w = Math.max(1, bw - 2 * Math.min(2, bw * 0.15));
    const title = `${label(b.start, o.bucketMs)}: ${b.allow} allowed, ${b.deny} denied`;
    if (b.allow > 0) parts.push(`<rect x="${x.toFixed(1)}" y="${y(b.allow).toFixed(1)}" width="${w.toFixed(1)}" height="${(y(0) - y(b.allow)).toFixed(1)}" fill="#2f8f5b"><title>${esc(title)}</title></rect>`);
    if (b.deny > 0) parts.push(`<rect x="${x.toFixed(1)}" y="${y(b.allow + b.deny).toFixed(1)}" width="${w.toFixed(1)}" height="${(y(b.allow) - y(b.allow + b.deny)).toFixed(1)}" fill="#c8463d"><title>${esc(title)}</title></rect>`);
    if (i % every === 0) parts.push(`<text x="${(left + i * bw + bw / 2).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle" font-size="11" fill="#5b6470">${esc(label(b.start, o.bucketMs))}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#8a939e"/>`);
  parts.push(`<rect x="${left}" y="${H - 18}" width="12" height="12" fill="#2f8f5b"/><text x="${left + 18}" y="${H - 8}" font-size="12" fill="#1f2933">allowed</text>`);
  parts.push(`<rect x="${left + 90}" y="${H - 18}" width="12" height="12" fill="#c8463d"/><text x="${left + 108}" y="${H - 8}" font-size="12" fill="#1f2933">denied</text>`);
  parts.push('</svg>');
  return parts.join('');
}
