import { describe, expect, it } from 'vitest';
import { CommandRateLimiter, TokenBuckets } from './rate-limit.ts';

describe('TokenBuckets', () => {
  it('lets a burst through, then one per refill interval', () => {
    let now = 0;
    const buckets = new TokenBuckets({ burst: 3, perMinute: 6 }, () => now);
    expect([1, 2, 3, 4].map(() => buckets.take('a'))).toEqual([true, true, true, false]);
    expect(buckets.waitMs('a')).toBe(10_000);
    now += 9_999;
    expect(buckets.take('a')).toBe(false);
    now += 1;
    expect(buckets.take('a')).toBe(true);
    expect(buckets.take('a')).toBe(false);
    // Others have buckets of their own.
    expect(buckets.take('b')).toBe(true);
  });

  it('refills up to the burst, never beyond', () => {
    let now = 0;
    const buckets = new TokenBuckets({ burst: 2, perMinute: 60 }, () => now);
    buckets.take('a');
    now += 3_600_000;
    expect([1, 2, 3].map(() => buckets.take('a'))).toEqual([true, true, false]);
  });

  it('forgets full buckets once many keys were seen', () => {
    let now = 0;
    const buckets = new TokenBuckets({ burst: 1, perMinute: 60 }, () => now);
    for (let i = 0; i < 2000; i++) buckets.take(`user${i}`);
    now += 60_000;
    buckets.take('late');
    expect(buckets.size).toBe(1);
  });

  it('refuses a bucket that could never hold a token', () => {
    expect(() => new TokenBuckets({ burst: 0, perMinute: 1 })).toThrow(RangeError);
  });
});

describe('CommandRateLimiter', () => {
  it('limits each user, and a room across its users', () => {
    const now = 0;
    const limiter = new CommandRateLimiter({ user: { burst: 2, perMinute: 1 }, room: { burst: 3, perMinute: 1 } }, () => now);
    expect(limiter.check('!r', '@a')).toBeUndefined();
    expect(limiter.check('!r', '@a')).toBeUndefined();
    expect(limiter.check('!r', '@a')).toMatchObject({ limited: 'user' });
    expect(limiter.check('!r', '@b')).toBeUndefined();
    expect(limiter.check('!r', '@c')).toMatchObject({ limited: 'room', waitMs: 60_000 });
    // Another room is not affected.
    expect(limiter.check('!other', '@c')).toBeUndefined();
  });
});
