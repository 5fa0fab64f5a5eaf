// Messages from the bot to the room about a session: plain-sentence notices in reply to the
// `!record` that started it. They go through the bridge (src/jobs/notices.ts), which encrypts
// them in encrypted rooms. A notice that cannot be queued is logged, never fatal.
import type { NoticeQueue } from '../jobs/notices.ts';
import type { Logger } from '../observability/logger.ts';
import { STOPPING_REDIS_LIMIT_MS, within } from '../time-limit.ts';

export class RoomNotices {
  readonly #queue: Pick<NoticeQueue, 'add'>;
  readonly #roomId: string;
  readonly #replyTo: string | undefined;
  readonly #log: Logger;

  constructor(queue: Pick<NoticeQueue, 'add'>, roomId: string, replyTo: string | undefined, log: Logger) {
    this.#queue = queue;
    this.#roomId = roomId;
    this.#replyTo = replyTo;
    this.#log = log;
  }

  /** Resolves once the notice is queued, or after a time limit while Redis does not answer (it is queued when Redis is back). */
  async send(text: string): Promise<void> {
    const queued = this.#queue.add({ roomId: this.#roomId, body: text, ...(this.#replyTo ? { replyTo: this.#replyTo } : {}) }).then(
      () => this.#log.info({ notice: text }, 'told the room'),
      (err: unknown) => this.#log.error({ err, notice: text }, 'could not queue a notice to the room'),
    );
    await within(queued, STOPPING_REDIS_LIMIT_MS, 'queueing a notice').catch(() =>
      this.#log.warn({ notice: text, waitedMs: STOPPING_REDIS_LIMIT_MS }, 'the notice queue (Redis) does not answer; the notice goes out once it is back, the session does not wait'),
    );
  }
}
