// The bot's voice in the call: one audio track on our own SFU connection, encrypted with the
// media key our MatrixRTC session generated and sent to the members (Element Call peers decrypt
// it like any member's microphone), used to say things aloud. Our own key can be announced
// before the track exists, so it is held until the track is published.
import type { Room } from '@livekit/rtc-node';
import { AudioPublisher } from '../media/livekit/audio-publisher.ts';
import { synthesiseSpeech } from '../media/speech/synthesise.ts';
import type { Logger } from '../observability/logger.ts';

/**
 * Members decrypt our voice only once our key reached them over Olm; js-sdk sends it right after
 * our membership, and a member's device needs a moment to take it. Speech waits this long after
 * the first key, so the first words are not lost.
 */
const KEY_SETTLE_MS = 2_000;

export interface CallVoiceOptions {
  language: string;
  encrypted: boolean;
  log: Logger;
}

export class CallVoice {
  readonly #opts: CallVoiceOptions;
  readonly #log: Logger;
  /** The newest own key, applied when the track is published. */
  #ownKey: { index: number; key: Uint8Array } | undefined;
  #firstKeyAt: number | undefined;
  #publisher: AudioPublisher | undefined;
  #speaking: Promise<void> = Promise.resolve();
  readonly #clips = new Map<string, Promise<Int16Array>>();

  constructor(opts: CallVoiceOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ module: 'voice' });
  }

  /** Our media key as js-sdk announces it (first key, or a rotation). */
  useOwnKey(index: number, key: Uint8Array): void {
    this.#ownKey = { index, key: Uint8Array.from(key) };
    this.#firstKeyAt ??= Date.now();
    this.#publisher?.useOwnKey(index, key);
  }

  /** Publishes the track on our own connection. */
  async start(room: Room): Promise<void> {
    const publisher = await AudioPublisher.publish(room, { trackName: 'recorder voice', log: this.#log });
    this.#publisher = publisher;
    if (this.#ownKey) publisher.useOwnKey(this.#ownKey.index, this.#ownKey.key);
    this.#log.info({ identity: publisher.identity, encrypted: this.#opts.encrypted }, 'voice track published');
  }

  /** Says `text` after whatever is being said; resolves when it has been played out. Errors are the caller's to report. */
  say(text: string): Promise<void> {
    const clip = this.#clip(text);
    const run = this.#speaking.then(async () => {
      const publisher = this.#publisher;
      if (!publisher) throw new Error('the voice track is not published');
      const samples = await clip;
      await this.#waitForKey();
      const started = Date.now();
      await publisher.play(samples);
      this.#log.info({ text, seconds: samples.length / 48_000, playedMs: Date.now() - started }, 'said aloud');
    });
    this.#speaking = run.catch(() => undefined);
    return run;
  }

  /** One live 10 ms frame (a bridged caller's voice); dropped until the track is published. */
  push(samples: Int16Array): void {
    this.#publisher?.push(samples);
  }

  stats() {
    return this.#publisher?.stats();
  }

  async close(): Promise<void> {
    await this.#publisher?.close();
    this.#publisher = undefined;
    this.#ownKey?.key.fill(0);
    this.#ownKey = undefined;
  }

  /** The same notice is synthesised once per call. */
  #clip(text: string): Promise<Int16Array> {
    let clip = this.#clips.get(text);
    if (!clip) {
      clip = synthesiseSpeech(text, { language: this.#opts.language });
      this.#clips.set(text, clip);
      clip.catch(() => this.#clips.delete(text));
    }
    return clip;
  }

  async #waitForKey(): Promise<void> {
    if (!this.#opts.encrypted) return;
    if (this.#firstKeyAt === undefined) throw new Error('no own media key yet, so members could not decrypt what I say');
    const wait = this.#firstKeyAt + KEY_SETTLE_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
