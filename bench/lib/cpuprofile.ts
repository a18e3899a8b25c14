// Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function, and by where the
// code lives (Ballast's own files, node internals, dependencies, GC/idle/program).
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  frame: string;
  selfPct: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of non-idle samples. */
  top: Frame[];
  byArea: Frame[];
  /** Inclusive (self + callees) share of the heaviest Ballast functions. */
  ballastInclusive: Frame[];
}

function where(url: string, root: string): string {
  if (!url) return '';
  const file = url.startsWith('file://') ? url.slice(7) : url;
  return file.startsWith(root) ? path.relative(root, file) : file.replace(/^.*node_modules\//, '');
}

function area(cf: CallFrame): string {
  const u = cf.url;
  if (!u) {
    if (cf.functionName === '(garbage collector)') return 'GC';
    if (cf.functionName === '(program)') return '(program: native, libuv, syscalls)';
    return cf.functionName || '(native)';
  }
  if (u.startsWith('node:')) return `node ${u.slice(5).split('/').slice(0, 2).join('/')}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return `dependency ${nm[1]}`;
  const dist = /\/dist\/(.*)$/.exec(u);
  if (dist) return `ballast ${path.dirname(dist[1])}`;
  return u;
}

/**
 * `window` keeps only samples taken between `fromMs` and `toMs` after the profile started (about when
 * the process started), e.g. the load phase without module loading and shutdown.
 */
export function summariseProfile(file: string, root: string, window?: { fromMs: number; toMs: number }, topN = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let at = 0;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (window && (at < window.fromMs * 1000 || at > window.toMs * 1000)) continue;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  let busy = 0;
  let total = 0;
  const fn = new Map<string, number>();
  const ar = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    total += us;
    if (cf.functionName === '(idle)') continue;
    busy += us;
    const name = `${cf.functionName || '(anonymous)'} ${cf.url ? `${where(cf.url, root)}:${cf.lineNumber + 1}` : ''}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + us);
    const a = area(cf);
    ar.set(a, (ar.get(a) ?? 0) + us);
    // Inclusive time of Ballast's own functions: charge each distinct ancestor frame once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const c = byId.get(cur)!.callFrame;
      if (!/\/dist\//.test(c.url) || c.url.includes('node_modules')) continue;
      const key = `${c.functionName || '(anonymous)'} ${where(c.url, root)}:${c.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + us);
    }
  }
  const rank = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([frame, us]) => ({ frame, selfPct: (100 * us) / (busy || 1) }));
  return { totalMs: total / 1000, top: rank(fn, topN), byArea: rank(ar, 12), ballastInclusive: rank(incl, 10) };
}
