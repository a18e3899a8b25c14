// Pure: the status a pool should show, and the Events worth emitting, from one reconcile's outcome.
// Conditions follow metav1.Condition: lastTransitionTime moves only when status flips.
import { NOT_DEGRADED_REASON, PROBLEMS, READY_REASON, type Problem } from '../api/conditions.js';
import type { BalancerPoolStatus, Condition } from '../api/schema.js';
import type { DesiredPool } from '../plan/desired-pool.js';
import { diffPlans } from '../plan/plan-diff.js';
import type { ActuatorReport } from './actuator.js';

export interface StatusInput {
  plan?: DesiredPool;
  reports: Record<string, ActuatorReport>;
  /** Set when the newest spec was rejected: the last good plan keeps serving. */
  invalid?: { generation?: number; message: string };
  generation?: number;
  previous?: BalancerPoolStatus;
  now: Date;
}

export function problemsOf(plan: DesiredPool | undefined, reports: Record<string, ActuatorReport>, invalid?: StatusInput['invalid']): Problem[] {
  const out: Problem[] = [];
  if (invalid) out.push({ reason: 'InvalidSpec', message: invalid.message });
  out.push(...(plan?.problems ?? []));
  for (const r of Object.values(reports)) if (r.problem) out.push(r.problem);
  return out;
}

function condition(type: string, ok: boolean, reason: string, message: string, input: StatusInput): Condition {
  const status = ok ? 'True' : 'False';
  const prev = input.previous?.conditions?.find((c) => c.type === type);
  return {
    type,
    status,
    observedGeneration: input.generation,
    lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : input.now.toISOString().replace(/\.\d+Z$/, 'Z'),
    reason,
    message,
  };
}

export function computeStatus(input: StatusInput): BalancerPoolStatus {
  const { plan, reports } = input;
  const problems = problemsOf(plan, reports, input.invalid);
  const ready = plan?.backends.filter((b) => b.state === 'ready').length ?? 0;
  const serving = (plan?.backends.length ?? 0) > 0;
  // A listener that is not open means the pool does not serve, whatever its backends.
  const blocking = problems.find((p) => PROBLEMS[p.reason].kind === 'listener');
  const isReady = serving && !blocking;
  const facts = Object.assign({}, ...Object.values(reports).map((r) => r.facts ?? {})) as Record<string, string>;
  const status: BalancerPoolStatus = {
    observedGeneration: input.invalid?.generation ?? input.generation,
    conditions: [
      isReady
        ? condition('Ready', true, READY_REASON, `${plan!.backends.length} backend${plan!.backends.length === 1 ? '' : 's'} in rotation`, input)
        : condition('Ready', false, blocking?.reason ?? problems[0]?.reason ?? 'NoEndpoints', blocking?.message ?? problems[0]?.message ?? 'no backend', input),
      problems.length > 0
        ? condition('Degraded', true, problems[0].reason, problems.map((p) => p.message).join('; '), input)
        : condition('Degraded', false, NOT_DEGRADED_REASON, 'the spec is fully served', input),
    ],
    backends: { ready, total: plan?.total ?? 0 },
  };
  if (facts.listener) status.listener = facts.listener;
  if (facts.configMap && facts.hash) status.nginx = { configMap: facts.configMap, hash: facts.hash };
  return status;
}

export interface PoolEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** What changed between two reconciles, as an operator wants to read it in `kubectl describe`. */
export function eventsFor(before: { plan?: DesiredPool; status?: BalancerPoolStatus }, after: { plan?: DesiredPool; status: BalancerPoolStatus; problems: Problem[] }): PoolEvent[] {
  const events: PoolEvent[] = [];
  const { backendChanges } = diffPlans(before.plan, after.plan);
  if (backendChanges.length) {
    events.push({ type: 'Normal', reason: 'BackendsChanged', message: `${backendChanges.join('; ')} (${after.plan?.backends.length ?? 0} in rotation)` });
  }
  if (after.status.listener && after.status.listener !== before.status?.listener) {
    events.push({ type: 'Normal', reason: 'ListenerOpened', message: `listening on ${after.status.listener}` });
  }
  const prevDegraded = before.status?.conditions?.find((c) => c.type === 'Degraded');
  const degraded = after.status.conditions?.find((c) => c.type === 'Degraded');
  if (degraded?.status === 'True' && (prevDegraded?.status !== 'True' || prevDegraded.message !== degraded.message)) {
    for (const p of after.problems) events.push({ type: 'Warning', reason: p.reason, message: p.message });
  }
  return events;
}
