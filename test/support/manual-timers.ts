import type { Timers } from '../../src/controller/work-queue.js';

/** Timers driven by the test: `advance(ms)` fires what is due. */
export function manualTimers() {
  let now = 0;
  let pending: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 0;
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      const id = nextId++;
      pending.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (h) => {
      pending = pending.filter((p) => p.id !== h);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    const due = pending.filter((p) => p.at <= now);
    pending = pending.filter((p) => p.at > now);
    for (const p of due) p.fn();
  };
  return { timers, advance, pending: () => pending.length };
}
