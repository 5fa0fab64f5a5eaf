// What workers say in rooms travels to the bridge through Redis: only the bridge holds the bot's
// encrypting device, so every message into an encrypted room is encrypted (a worker posting
// with the appservice token would post in the clear). The queue is durable, so a notice written
// while the bridge restarts is sent when it is back. Notices carry room text only, never secrets.
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

export const NOTICE_QUEUE = 'room.notices';

export interface NoticeJobData {
  roomId: string;
  body: string;
  /** The event the notice replies to (the `!record` of the session). */
  replyTo?: string;
}

/** The worker side: queue a notice for the bridge to send. */
export class NoticeQueue {
  readonly #queue: Queue<NoticeJobData>;

  constructor(redis: Redis, prefix: string) {
    this.#queue = new Queue<NoticeJobData>(NOTICE_QUEUE, { connection: redis, prefix });
  }

  async add(notice: NoticeJobData): Promise<void> {
    await this.#queue.add('notice', notice, {
      attempts: 8,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: true,
      removeOnFail: 100,
    });
  }

  close(): Promise<void> {
    return this.#queue.close();
  }
}

/** The bridge side: sends queued notices one at a time per bridge, in order. */
export class NoticeSender {
  readonly #worker: Worker<NoticeJobData>;

  constructor(redis: Redis, prefix: string, send: (notice: NoticeJobData) => Promise<void>, log: Logger) {
    this.#worker = new Worker<NoticeJobData>(NOTICE_QUEUE, (job: Job<NoticeJobData>) => send(job.data), { connection: redis, prefix, concurrency: 1 });
    this.#worker.on('failed', (job, err) => log.error({ err, roomId: job?.data.roomId, attempt: job?.attemptsMade }, 'could not send a notice to the room'));
  }

  close(): Promise<void> {
    return this.#worker.close();
  }
}
