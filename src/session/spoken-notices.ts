// Says aloud in the call what the bot starts producing ("This call is being recorded"), once per
// output kind while it lasts, so members who do not look at the room are told too. Texts and
// language come from the `voice` config; a notice that cannot be spoken is told to the room once.
import type { Call } from '../call/call.ts';
import type { Config } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { RoomNotices } from './room-notices.ts';

export type SpokenKind = 'recording' | 'stream';

export class SpokenNotices {
  readonly #said = new Set<SpokenKind>();
  readonly #call: Pick<Call, 'say'>;
  readonly #voice: Config['voice'];
  readonly #notices: RoomNotices;
  readonly #log: Logger;
  #failureTold = false;

  constructor(call: Pick<Call, 'say'>, voice: Config['voice'], notices: RoomNotices, log: Logger) {
    this.#call = call;
    this.#voice = voice;
    this.#notices = notices;
    this.#log = log;
  }

  /** Kinds the call was told about already (by the worker this one took the session over from). */
  assumeSaid(kinds: SpokenKind[]): void {
    for (const kind of kinds) this.#said.add(kind);
  }

  /** The kinds produced now: new ones are announced; ended ones will be announced again if they restart. */
  update(active: ReadonlySet<SpokenKind>): void {
    for (const kind of [...this.#said]) if (!active.has(kind)) this.#said.delete(kind);
    for (const kind of active) {
      if (this.#said.has(kind)) continue;
      this.#said.add(kind);
      void this.#say(kind === 'recording' ? this.#voice.recordingNotice : this.#voice.streamingNotice);
    }
  }

  async #say(text: string): Promise<void> {
    try {
      await this.#call.say(text);
    } catch (err) {
      this.#log.error({ err, text }, 'could not say a notice aloud');
      if (this.#failureTold) return;
      this.#failureTold = true;
      await this.#notices.send(`I could not say aloud in the call that it is recorded or streamed: ${describeError(err)}`);
    }
  }
}
