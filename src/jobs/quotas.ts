// Caps on what one room, one user and the workers take on, checked by the bridge before a session
// or an output is queued. Each refusal is a CommandError: the sentence the person who asked reads.
import type { Redis } from 'ioredis';
import { CommandError } from '../errors.ts';
import type { OutputRecord } from './outputs.ts';

export interface QuotaLimits {
  /** Outputs (recording, streams) one room's session runs at once. */
  maxOutputsPerRoom: number;
  /** Sessions one user may have started and still running, in any room. */
  maxSessionsPerUser: number;
  /** Sessions one worker runs at once (`jobs.concurrency`; every worker shares the config). */
  sessionsPerWorker: number;
}

/** What the queue tells the quotas: whether a job still runs, and how busy the workers are. */
export interface QueueView {
  isRunning(jobId: string): Promise<boolean>;
  /** Jobs running or waiting, and workers connected. */
  load(): Promise<{ busy: number; workers: number }>;
}

const userSessionsKey = (prefix: string, userId: string) => `${prefix}:user-sessions:${userId}`;
/** A user's session list outlives a lost cleanup by at most this long. */
const USER_SESSIONS_TTL_S = 7 * 24 * 3600;

export class SessionQuotas {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #limits: QuotaLimits;
  readonly #queue: QueueView;

  constructor(redis: Redis, prefix: string, limits: QuotaLimits, queue: QueueView) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#limits = limits;
    this.#queue = queue;
  }

  /** Throws when the room's session already runs as many outputs as allowed. */
  checkRoomOutputs(current: readonly OutputRecord[]): void {
    const max = this.#limits.maxOutputsPerRoom;
    if (current.length < max) return;
    throw new CommandError(
      `This call already has ${current.length} output${current.length === 1 ? '' : 's'} running (its recording and live streams), the most I run for one room ` +
        `(limits.maxOutputsPerRoom is ${max}). Stop one first (!stream stop <name>, or !stop).`,
      'MRR_QUOTA_ROOM',
    );
  }

  /** Throws when `userId` already has as many sessions running as allowed. Ended ones are forgotten on the way. */
  async checkUserSessions(userId: string): Promise<void> {
    const key = userSessionsKey(this.#prefix, userId);
    const jobIds = await this.#redis.smembers(key);
    let running = 0;
    for (const jobId of jobIds) {
      if (await this.#queue.isRunning(jobId)) running++;
      else await this.#redis.srem(key, jobId);
    }
    const max = this.#limits.maxSessionsPerUser;
    if (running < max) return;
    throw new CommandError(
      `${userId} already has ${running} call${running === 1 ? '' : 's'} being recorded or streamed, the most one person may start ` +
        `(limits.maxSessionsPerUser is ${max}). Stop one of them first.`,
      'MRR_QUOTA_USER',
    );
  }

  async addUserSession(userId: string, jobId: string): Promise<void> {
    const key = userSessionsKey(this.#prefix, userId);
    await this.#redis.multi().sadd(key, jobId).expire(key, USER_SESSIONS_TTL_S).exec();
  }

  /**
   * Said when a new session will wait for a worker: every worker runs as many sessions as it may
   * (BullMQ never gives a worker more than `jobs.concurrency`). Undefined when one is free.
   */
  async waitingForWorker(): Promise<string | undefined> {
    const { busy, workers } = await this.#queue.load();
    const capacity = workers * this.#limits.sessionsPerWorker;
    if (busy < capacity) return undefined;
    if (workers === 0) return 'No recorder worker is running right now, so this waits in the queue until one starts. !stop cancels it.';
    return (
      `All ${workers} recorder worker${workers === 1 ? ' is' : 's are'} busy (${busy} session${busy === 1 ? '' : 's'}; jobs.concurrency is ` +
      `${this.#limits.sessionsPerWorker} per worker), so this waits in the queue and starts when one ends. !stop cancels it.`
    );
  }
}
