// The bot's voice in the call: one audio track on our own SFU connection, encrypted with the
// media key our MatrixRTC session generated and sent to the members (Element Call peers decrypt
// it like any member's microphone), used to say things aloud. Our own key can be announced
// before the track exists, so it is held and applied to every track published.
//
// The recorder's voice is published only while it has something to say: a published track costs
// an Opus encode, encryption and sending every 10 ms even while silent (measured at N = 8 audio:
// about 0.5 CPU-s per 20 s of recording). Speech publishes it, and it is unpublished after
// IDLE_MS with nothing said. A bridged caller's voice (`publish: 'always'`) stays published for
// the whole call, so the first words after a silence are never lost to a publication.
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
/** A track published for speech is unpublished once nothing was said for this long. */
export const IDLE_MS = 5_000;
/**
 * Speech on a freshly published track waits for a member to subscribe (the SFU tells us), so its
 * first words are not said to nobody; at most this long (members on another SFU never do here).
 */
const SUBSCRIBER_WAIT_MS = 3_000;

export interface CallVoiceOptions {
  language: string;
  encrypted: boolean;
  log: Logger;
  /** 'whileSpeaking' (the recorder's notices) or 'always' (a bridged caller's voice, published from start()). */
  publish: 'whileSpeaking' | 'always';
}

export class CallVoice {
  readonly #opts: CallVoiceOptions;
  readonly #log: Logger;
  /** The newest own key, applied to each track published. */
  #ownKey: { index: number; key: Uint8Array } | undefined;
  #firstKeyAt: number | undefined;
  #room: Room | undefined;
  #publisher: AudioPublisher | undefined;
  #publishing: Promise<AudioPublisher> | undefined;
  #speaking: Promise<void> = Promise.resolve();
  /** say() calls not played out yet: the track is not idle while any waits. */
  #saying = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
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

  /** The connection to speak on (again after a reconnection: a track of the old one went with it). Publishes now only for `publish: 'always'`. */
  async start(room: Room): Promise<void> {
    this.#room = room;
    const old = this.#publisher;
    this.#publisher = undefined;
    if (old) void old.close().catch((err: unknown) => this.#log.debug({ err }, 'closing the voice track of the previous connection failed'));
    if (this.#opts.publish === 'always') await this.#published();
    else this.#log.info({ encrypted: this.#opts.encrypted }, 'voice ready: its track is published while it speaks');
  }

  /** Says `text` after whatever is being said; resolves when it has been played out. Errors are the caller's to report. */
  say(text: string): Promise<void> {
    const clip = this.#clip(text);
    this.#saying++;
    clearTimeout(this.#idleTimer);
    const run = this.#speaking.then(async () => {
      // Synthesis, publication and the key's settling overlap.
      const [samples, publisher] = await Promise.all([clip, this.#published(), this.#waitForKey()]);
      const started = Date.now();
      await publisher.play(samples);
      this.#log.info({ text, seconds: samples.length / 48_000, playedMs: Date.now() - started }, 'said aloud');
    });
    const settled = run.finally(() => {
      this.#saying--;
      this.#unpublishWhenIdle();
    });
    this.#speaking = settled.catch(() => undefined);
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
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await this.#publishing?.catch(() => undefined);
    await this.#publisher?.close();
    this.#publisher = undefined;
    this.#ownKey?.key.fill(0);
    this.#ownKey = undefined;
  }

  /** The published track: published now when there is none (once, whoever asks). */
  #published(): Promise<AudioPublisher> {
    if (this.#publisher) return Promise.resolve(this.#publisher);
    const room = this.#room;
    if (this.#closed || !room) return Promise.reject(new Error('the voice track is not published (no connection to speak on)'));
    this.#publishing ??= (async () => {
      const publisher = await AudioPublisher.publish(room, { trackName: 'recorder voice', log: this.#log });
      if (this.#closed || this.#room !== room) {
        await publisher.close();
        throw new Error('the voice track is not published (the connection closed meanwhile)');
      }
      if (this.#ownKey) publisher.useOwnKey(this.#ownKey.index, this.#ownKey.key);
      this.#publisher = publisher;
      const started = Date.now();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const subscribed = await Promise.race([
        publisher.firstSubscriber().then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), SUBSCRIBER_WAIT_MS))),
      ]);
      clearTimeout(timer);
      this.#log.info({ identity: publisher.identity, encrypted: this.#opts.encrypted, subscribed, waitedMs: Date.now() - started }, 'voice track published');
      return publisher;
    })().finally(() => (this.#publishing = undefined));
    return this.#publishing;
  }

  /** Unpublishes the track IDLE_MS after the last speech, unless more came meanwhile. */
  #unpublishWhenIdle(): void {
    if (this.#opts.publish === 'always' || this.#closed) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      const publisher = this.#publisher;
      if (!publisher || this.#saying > 0) return;
      this.#publisher = undefined;
      publisher.close().then(
        () => this.#log.info({ idleMs: IDLE_MS }, 'voice track unpublished: nothing more to say'),
        (err: unknown) => this.#log.warn({ err }, 'unpublishing the idle voice track failed'),
      );
    }, IDLE_MS);
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
