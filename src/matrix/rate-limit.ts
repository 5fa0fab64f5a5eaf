// Token buckets for commands: each key (a user, a room) may send `burst` commands at once and
// then `perMinute` a minute. Buckets that are full again are forgotten, so the map only holds
// keys that sent something within the last refill time.

export interface BucketSpec {
  burst: number;
  perMinute: number;
}

export class TokenBuckets {
  readonly #spec: BucketSpec;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(spec: BucketSpec, now: () => number = Date.now) {
    if (spec.burst < 1 || spec.perMinute <= 0) throw new RangeError('a bucket needs burst >= 1 and perMinute > 0');
    this.#spec = spec;
    this.#now = now;
  }

  /** Takes one token for `key`; false when its bucket is empty (the command is to be dropped). */
  take(key: string): boolean {
    const now = this.#now();
    this.#forgetFull(now);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#spec.burst, at: now };
    bucket.tokens = this.#refilled(bucket, now);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** How long until `key` may send again, in ms (0 when it may now). */
  waitMs(key: string): number {
    const bucket = this.#buckets.get(key);
    if (!bucket) return 0;
    const tokens = this.#refilled(bucket, this.#now());
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 60_000) / this.#spec.perMinute);
  }

  get size(): number {
    return this.#buckets.size;
  }

  #refilled(bucket: { tokens: number; at: number }, now: number): number {
    return Math.min(this.#spec.burst, bucket.tokens + ((now - bucket.at) * this.#spec.perMinute) / 60_000);
  }

  #forgetFull(now: number): void {
    if (this.#buckets.size < 1024) return;
    for (const [key, bucket] of this.#buckets) if (this.#refilled(bucket, now) >= this.#spec.burst) this.#buckets.delete(key);
  }
}

export interface CommandLimits {
  user: BucketSpec;
  room: BucketSpec;
}

/** Why a command is dropped, or undefined when it may run. A room's bucket is only spent by commands a user's bucket let through. */
export class CommandRateLimiter {
  readonly #users: TokenBuckets;
  readonly #rooms: TokenBuckets;

  constructor(limits: CommandLimits, now: () => number = Date.now) {
    this.#users = new TokenBuckets(limits.user, now);
    this.#rooms = new TokenBuckets(limits.room, now);
  }

  check(roomId: string, userId: string): { limited: 'user' | 'room'; waitMs: number } | undefined {
    if (!this.#users.take(userId)) return { limited: 'user', waitMs: this.#users.waitMs(userId) };
    if (!this.#rooms.take(roomId)) return { limited: 'room', waitMs: this.#rooms.waitMs(roomId) };
    return undefined;
  }
}
