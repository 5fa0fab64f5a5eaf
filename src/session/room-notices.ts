// Messages from the bot to the room about a session: plain-sentence notices in reply to the
// `!record` that started it. They go through the bridge (src/jobs/notices.ts), which encrypts
// them in encrypted rooms. A notice that cannot be queued is logged, never fatal.
import type { NoticeQueue } from '../jobs/notices.ts';
import type { Logger } from '../observability/logger.ts';

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

  async send(text: string): Promise<void> {
    try {
      await this.#queue.add({ roomId: this.#roomId, body: text, ...(this.#replyTo ? { replyTo: this.#replyTo } : {}) });
      this.#log.info({ notice: text }, 'told the room');
    } catch (err) {
      this.#log.error({ err, notice: text }, 'could not queue a notice to the room');
    }
  }
}
