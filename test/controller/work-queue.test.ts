import { describe, expect, it } from '@jest/globals';
import { backoffDelay, WorkQueue } from '../../src/controller/work-queue.js';
import { manualTimers } from '../support/manual-timers.js';

describe('WorkQueue', () => {
  it('collapses a burst of adds into one item', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 5; i++) q.add('ns/a');
    q.add('ns/b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
  });

  it('never hands out a key twice at once, and re-queues it when it was added while processing', async () => {
    const q = new WorkQueue();
    q.add('ns/a');
    const key = await q.get();
    q.add('ns/a');
    expect(q.length).toBe(0);
    q.done(key!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('ns/a');
  });

  it('wakes a waiting worker', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add('ns/a');
    await expect(next).resolves.toBe('ns/a');
  });

  it('backs off per key exponentially up to the cap, and forget resets it', () => {
    const { timers, advance } = manualTimers();
    const q = new WorkQueue(timers, { baseMs: 100, maxMs: 400, jitter: 0 });
    expect([q.addRateLimited('ns/a'), q.addRateLimited('ns/a'), q.addRateLimited('ns/a'), q.addRateLimited('ns/a')]).toEqual([100, 200, 400, 400]);
    expect(q.addRateLimited('ns/b')).toBe(100);
    advance(399);
    expect(q.length).toBe(1); // ns/b is due, ns/a is not
    advance(1);
    expect(q.length).toBe(2);
    q.forget('ns/a');
    expect(q.addRateLimited('ns/a')).toBe(100);
  });

  it('jitter only shortens the delay, within its fraction', () => {
    const opts = { baseMs: 1000, maxMs: 60_000, jitter: 0.2 };
    expect(backoffDelay(1, opts, () => 0)).toBe(1000);
    expect(backoffDelay(1, opts, () => 1)).toBe(800);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(3600);
  });

  it('shutDown releases waiting workers and cancels delayed adds', async () => {
    const { timers, pending } = manualTimers();
    const q = new WorkQueue(timers);
    q.addAfter('ns/a', 1000);
    const waiting = q.get();
    q.shutDown();
    await expect(waiting).resolves.toBeUndefined();
    expect(pending()).toBe(0);
  });
});
