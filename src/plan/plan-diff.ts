// Pure: what changed between two plans of one pool, as a person reading the log or `kubectl
// describe` wants it: backends added and removed, weights and states that moved, the listener
// opened, moved or closed, and any setting that changed.
import { endpointId, type Backend, type DesiredPool } from './desired-pool.js';

export interface PlanDiff {
  /** Backends by `address:port`, in plan order. */
  added: string[];
  removed: string[];
  weights: { backend: string; from: number; to: number }[];
  states: { backend: string; from: Backend['state']; to: Backend['state'] }[];
  /** Other settings, as `field from→to` (objects one level down: `healthCheck.intervalSeconds 5→10`). */
  settings: string[];
  /** The backend changes as short phrases: `added 127.0.0.1:3002`, `127.0.0.1:3000 weight 1→3`. */
  backendChanges: string[];
  /** Everything as short phrases: the backend changes, then e.g. `listener moved 8080→8081`, then the settings. */
  changes: string[];
}

/** Plan fields that are settings (the rest are identity, discovery results and problems). */
const SETTINGS = ['algorithm', 'retries', 'terminating', 'healthCheck', 'outlierDetection', 'timeouts', 'drainTimeoutSeconds', 'nginx'] as const;

const id = (b: { address: string; port: number }) => endpointId(b.address, b.port);
const show = (v: unknown) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));

function settingChanges(before: DesiredPool, after: DesiredPool): string[] {
  const out: string[] = [];
  for (const field of SETTINGS) {
    const a: unknown = before[field];
    const b: unknown = after[field];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      const x = a as Record<string, unknown>;
      const y = b as Record<string, unknown>;
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
        if (JSON.stringify(x[k]) !== JSON.stringify(y[k])) out.push(`${field}.${k} ${show(x[k])}→${show(y[k])}`);
      }
    } else if (a === undefined) out.push(`${field} added`);
    else if (b === undefined) out.push(`${field} removed`);
    else out.push(`${field} ${show(a)}→${show(b)}`);
  }
  return out;
}

function listenerPhrase(from: DesiredPool['listener'], to: DesiredPool['listener']): string | undefined {
  if (from && to) {
    if (from.address === to.address && from.port === to.port) return undefined;
    return from.address === to.address ? `listener moved ${from.port}→${to.port}` : `listener moved ${id(from)}→${id(to)}`;
  }
  if (to) return `listener opened ${id(to)}`;
  if (from) return `listener closed ${id(from)}`;
  return undefined;
}

/** What changed from `before` to `after`; either may be absent (a new or a deleted pool). */
export function diffPlans(before: DesiredPool | undefined, after: DesiredPool | undefined): PlanDiff {
  const was = new Map((before?.backends ?? []).map((b) => [id(b), b]));
  const now = new Map((after?.backends ?? []).map((b) => [id(b), b]));
  const added = [...now.keys()].filter((k) => !was.has(k));
  const removed = [...was.keys()].filter((k) => !now.has(k));
  const weights: PlanDiff['weights'] = [];
  const states: PlanDiff['states'] = [];
  for (const [k, b] of now) {
    const old = was.get(k);
    if (old && old.weight !== b.weight) weights.push({ backend: k, from: old.weight, to: b.weight });
    if (old && old.state !== b.state) states.push({ backend: k, from: old.state, to: b.state });
  }
  const listenerChange = listenerPhrase(before?.listener, after?.listener);
  const settings = before && after ? settingChanges(before, after) : [];
  const backendChanges = [
    ...(added.length ? [`added ${added.join(', ')}`] : []),
    ...(removed.length ? [`removed ${removed.join(', ')}`] : []),
    ...weights.map((w) => `${w.backend} weight ${w.from}→${w.to}`),
    ...states.map((s) => `${s.backend} ${s.from}→${s.to}`),
  ];
  const changes = [...backendChanges, ...(listenerChange ? [listenerChange] : []), ...settings];
  return { added, removed, weights, states, settings, backendChanges, changes };
}
