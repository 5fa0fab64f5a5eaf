import { describe, expect, it } from 'vitest';
import { JobLockWatch, type LockLoss } from './job-lock.ts';

function watch(lockMs = 4_000) {
  let now = 0;
  const lost: Array<[string, LockLoss]> = [];
  const w = new JobLockWatch(lockMs, (jobId, why) => lost.push([jobId, why]), () => now);
  return { w, lost, advance: (ms: number) => (now += ms), at: () => now };
}

describe('JobLockWatch', () => {
  it('keeps a job whose lock is renewed in time', () => {
    const { w, lost, advance, at } = watch();
    w.track('j', at());
    for (let i = 0; i < 10; i++) {
      advance(2_000);
      w.renewed(['j']);
      w.check();
    }
    expect(lost).toEqual([]);
    expect(w.lost('j')).toBe(false);
  });

  it('reports a job lost once its lock must have expired (a pause, or Redis unreachable)', () => {
    const { w, lost, advance, at } = watch();
    w.track('j', at());
    advance(3_999);
    w.check();
    expect(lost).toEqual([]);
    advance(1);
    expect(w.lost('j')).toBe(true);
    expect(lost).toEqual([['j', 'expired']]);
    // A late renewal does not bring it back: another worker may hold the job by now.
    w.renewed(['j']);
    w.check();
    expect(w.lost('j')).toBe(true);
    expect(lost).toHaveLength(1);
  });

  it('reports a refused renewal at once, and only for tracked jobs', () => {
    const { w, lost, at } = watch();
    w.track('a', at());
    w.refused(['a', 'other']);
    expect(lost).toEqual([['a', 'refused']]);
    w.untrack('a');
    expect(w.lost('a')).toBe(false);
  });
});
