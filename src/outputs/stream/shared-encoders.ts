// The call's encoders, shared by every output that wants the same packets: a live stream and a
// recording whose composite video has the stream's settings take one x264 encode (issue 10), as
// the destinations of one stream already do. Outputs lease an encoder by its settings; leases of
// equal ffmpeg arguments get the same encoder, which is fed from the call's clocks while any
// lease holds it and stopped when the last is given back. So a stream added or removed beside a
// recording never restarts the encode the recording writes from.
import type { Logger } from '../../observability/logger.ts';
import type { EncodeSettings } from './stream-args.ts';
import { StreamEncoder } from './stream-encoder.ts';

/** What the registry needs of a call: its audio clock and, for video, its picture. */
export interface EncoderSources {
  audio: { subscribe(subscriber: (tick: { mixed: Int16Array }) => void): () => void };
  video?: { subscribe(subscriber: (canvas: { data: Uint8Array }) => void): () => void } | undefined;
}

/** The part of StreamEncoder the registry drives (a seam for unit tests). */
export type SharedEncoder = Pick<StreamEncoder, 'args' | 'start' | 'stop' | 'writeAudio' | 'writeVideo'>;

export interface EncoderLease<E extends SharedEncoder = StreamEncoder> {
  readonly encoder: E;
  /**
   * Called with each picture's number as it goes to the encoder (before any packet of it can come
   * out), so a taker can decide which pictures it wants. Returns its removal.
   */
  onPicture(listener: (frame: number) => void): () => void;
  /** Gives the lease back; the encoder stops when no lease is left. Idempotent. */
  release(): Promise<void>;
}

interface Entry<E extends SharedEncoder> {
  encoder: E;
  leases: number;
  pictures: Set<(frame: number) => void>;
  detach: Array<() => void>;
}

/** Two settings share an encoder exactly when they make the same ffmpeg arguments. */
export const encoderKey = (encoder: Pick<SharedEncoder, 'args'>) => encoder.args.join('\u0000');

export class SharedEncoders<E extends SharedEncoder = StreamEncoder> {
  readonly #sources: EncoderSources;
  readonly #create: (settings: EncodeSettings) => E;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry<E>>();

  constructor(opts: { sources: EncoderSources; create: (settings: EncodeSettings) => E; log: Logger }) {
    this.#sources = opts.sources;
    this.#create = opts.create;
    this.#log = opts.log.child({ module: 'shared-encoders' });
  }

  /** Real encoders (ffmpeg) fed from a call. */
  static forCall(sources: EncoderSources, ffmpegPath: string, log: Logger): SharedEncoders {
    return new SharedEncoders({ sources, create: (settings) => new StreamEncoder({ settings, ffmpegPath, log }), log });
  }

  /** Running encoders and how many leases each has (for status and tests). */
  leases(): number[] {
    return [...this.#entries.values()].map((e) => e.leases);
  }

  /** An encoder of these settings: the running one with equal arguments, or a new one started now. */
  lease(settings: EncodeSettings): EncoderLease<E> {
    const candidate = this.#create(settings);
    const key = encoderKey(candidate);
    let entry = this.#entries.get(key);
    if (entry) {
      entry.leases++;
      this.#log.info({ leases: entry.leases, video: settings.video !== undefined }, 'an output joins a running encode');
    } else {
      if (settings.video && !this.#sources.video) throw new Error('this call was joined without video');
      entry = { encoder: candidate, leases: 1, pictures: new Set(), detach: [] };
      this.#entries.set(key, entry);
      this.#feed(entry, settings);
      entry.encoder.start();
    }
    return this.#leaseOf(key, entry);
  }

  #feed(entry: Entry<E>, settings: EncodeSettings): void {
    const { encoder, pictures } = entry;
    entry.detach.push(this.#sources.audio.subscribe((tick) => encoder.writeAudio(tick.mixed)));
    if (settings.video) {
      entry.detach.push(
        this.#sources.video!.subscribe((canvas) => {
          const frame = encoder.writeVideo(canvas.data);
          for (const listener of pictures) {
            try {
              listener(frame);
            } catch (err) {
              this.#log.error({ err }, 'a taker of the shared encode failed on a picture; the others go on');
            }
          }
        }),
      );
    }
  }

  #leaseOf(key: string, entry: Entry<E>): EncoderLease<E> {
    let released: Promise<void> | undefined;
    const mine = new Set<(frame: number) => void>();
    return {
      encoder: entry.encoder,
      onPicture: (listener) => {
        entry.pictures.add(listener);
        mine.add(listener);
        return () => {
          entry.pictures.delete(listener);
          mine.delete(listener);
        };
      },
      release: () => {
        released ??= (async () => {
          for (const listener of mine) entry.pictures.delete(listener);
          entry.leases--;
          if (entry.leases > 0) return;
          this.#entries.delete(key);
          for (const detach of entry.detach) detach();
          await entry.encoder.stop();
        })();
        return released;
      },
    };
  }
}
