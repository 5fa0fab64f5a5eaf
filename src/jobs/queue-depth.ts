// How many jobs wait in each queue, for the mrr_queue_jobs gauge: read at scrape time through
// BullMQ's own counters, so the number is the queue's and not this process's idea of it.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { NOTICE_QUEUE } from './notices.ts';
import { SESSION_QUEUE } from './queues.ts';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

export class QueueDepth {
  readonly #queues: Queue[];

  constructor(redis: Redis, prefix: string) {
    this.#queues = [SESSION_QUEUE, NOTICE_QUEUE].map((name) => new Queue(name, { connection: redis, prefix }));
  }

  /** Job counts by queue name and state. */
  async read(): Promise<Record<string, Record<string, number>>> {
    const counts = await Promise.all(this.#queues.map((q) => q.getJobCounts(...STATES)));
    return Object.fromEntries(this.#queues.map((q, i) => [q.name, counts[i]!]));
  }

  async close(): Promise<void> {
    await Promise.all(this.#queues.map((q) => q.close()));
  }
}
