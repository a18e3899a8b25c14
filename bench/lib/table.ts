// Markdown tables and number formatting shared by every benchmark.

/** A Markdown table; the first `leftColumns` columns are left-aligned, the rest (numbers) right-aligned. */
export function table(header: string[], rows: (string | number)[][], leftColumns = 1): string {
  const cells = rows.map((r) => r.map(String));
  const w = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const left = (i: number) => i < leftColumns;
  const line = (r: string[]) => `| ${r.map((c, i) => (left(i) ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`;
  return [line(header), `| ${w.map((n, i) => (left(i) ? '-'.repeat(n) : '-'.repeat(n - 1) + ':')).join(' | ')} |`, ...cells.map(line)].join('\n');
}

export const fmtInt = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US'));
export const fmtMs = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
export const fmtRatio = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : `${n.toFixed(2)}×`);
/** Decimal megabytes (10^6), the unit the targets are stated in. */
export const fmtMB = (bytes: number | undefined) => (bytes === undefined || !Number.isFinite(bytes) ? '–' : (bytes / 1e6).toFixed(1));
export const fmtMiB = (bytes: number | undefined) => (bytes === undefined || !Number.isFinite(bytes) ? '–' : (bytes / 2 ** 20).toFixed(1));

/** Percentile (nearest rank) of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export interface Target {
  name: string;
  measured: string;
  target: string;
  met: boolean | undefined;
  note?: string;
}

export function verdict(met: boolean | undefined): string {
  return met === undefined ? 'not measured' : met ? 'met' : '**missed**';
}
