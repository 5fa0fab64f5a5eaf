// One job, one recorder. BullMQ hands a job whose lock expired to another worker, but it never
// tells the first one: a worker that could not renew its lock (Redis unreachable for longer than
// the lock, the process paused, a machine suspended) would record on beside its successor. This
// watch knows when each running job's lock was last renewed and reports a job as lost as soon as
// its lock must have expired, or when BullMQ says a renewal was refused (another worker holds it).

export type LockLoss = 'expired' | 'refused';

export class JobLockWatch {
  readonly #lockDurationMs: number;
  readonly #onLost: (jobId: string, why: LockLoss) => void;
  readonly #now: () => number;
  /** Running jobs: when their lock was last known to be ours (taken or renewed). */
  readonly #renewedAt = new Map<string, number>();
  readonly #lost = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(lockDurationMs: number, onLost: (jobId: string, why: LockLoss) => void, now: () => number = Date.now) {
    this.#lockDurationMs = lockDurationMs;
    this.#onLost = onLost;
    this.#now = now;
  }

  /** Checks a few times per lock duration; after a pause the first timer to run is a check, before any media is written. */
  start(): void {
    this.#timer ??= setInterval(() => this.check(), Math.max(50, Math.min(1_000, this.#lockDurationMs / 8)));
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A job whose lock was taken at `lockedAt` (BullMQ sets the lock when it hands the job out). */
  track(jobId: string, lockedAt: number): void {
    this.#renewedAt.set(jobId, lockedAt);
    this.#lost.delete(jobId);
  }

  untrack(jobId: string): void {
    this.#renewedAt.delete(jobId);
    this.#lost.delete(jobId);
  }

  /**
   * BullMQ renewed these locks. The renewal was sent before this moment, so the lock expires at
   * the latest one lock duration from now: never later than what the watch assumes.
   */
  renewed(jobIds: string[]): void {
    const now = this.#now();
    for (const jobId of jobIds) if (this.#renewedAt.has(jobId) && !this.#lost.has(jobId)) this.#renewedAt.set(jobId, now);
  }

  /** BullMQ could not renew these locks: they are held by someone else or gone. */
  refused(jobIds: string[]): void {
    for (const jobId of jobIds) this.#lose(jobId, 'refused');
  }

  check(): void {
    const now = this.#now();
    for (const [jobId, at] of this.#renewedAt) if (now - at >= this.#lockDurationMs) this.#lose(jobId, 'expired');
  }

  /** Whether the job may belong to another worker now; once lost, it stays lost for this attempt. */
  lost(jobId: string): boolean {
    this.check();
    return this.#lost.has(jobId);
  }

  #lose(jobId: string, why: LockLoss): void {
    if (!this.#renewedAt.has(jobId) || this.#lost.has(jobId)) return;
    this.#lost.add(jobId);
    this.#onLost(jobId, why);
  }
}
