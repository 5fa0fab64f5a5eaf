// Messages from the bot to the room about a session: plain-sentence notices in reply to the
// `!record` that started it. A notice that cannot be sent is logged, never fatal.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import { type AppserviceClient, roomPath } from './appservice-client.ts';

export class RoomNotices {
  readonly #client: AppserviceClient;
  readonly #botUserId: string;
  readonly #roomId: string;
  readonly #replyTo: string | undefined;
  readonly #log: Logger;

  constructor(client: AppserviceClient, botUserId: string, roomId: string, replyTo: string | undefined, log: Logger) {
    this.#client = client;
    this.#botUserId = botUserId;
    this.#roomId = roomId;
    this.#replyTo = replyTo;
    this.#log = log;
  }

  async send(text: string): Promise<void> {
    const content = {
      msgtype: 'm.notice',
      body: text,
      ...(this.#replyTo ? { 'm.relates_to': { 'm.in_reply_to': { event_id: this.#replyTo } } } : {}),
    };
    const txn = `mrr-${Date.now()}-${randomBytes(4).toString('hex')}`;
    try {
      await this.#client.request('sending a notice', 'PUT', roomPath(this.#roomId, `send/m.room.message/${txn}`), this.#botUserId, content);
      this.#log.info({ notice: text }, 'told the room');
    } catch (err) {
      this.#log.error({ err, notice: text }, 'could not send a notice to the room');
    }
  }
}
