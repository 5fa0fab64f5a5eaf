// A live stream of a call: the mixed audio (and, for video streams, the composed picture) encoded
// once, and sent on to any number of destinations that are added and removed while it runs. Each
// destination reconnects by itself (destination-relay.ts); the encode never stops for them. The
// encode is the stream's own, or one shared with others (a recording of the same settings) that
// the stream only takes tags from (shared-encoders.ts).
//
// Input (own encode only) is what the recording clock produces: s16le 48 kHz mono PCM chunks and,
// for video, raw frames of `video.width`×`video.height` at `video.fps` (stream-encoder.ts).
import type { Logger } from '../../observability/logger.ts';
import { PCM_48K_MONO } from '../../media/ffmpeg/audio-args.ts';
import type { VideoFormat } from '../../media/ffmpeg/video-args.ts';
import type { Destination } from './destination.ts';
import { DestinationRelay, type DestinationStatus, type RetryPolicy, type StreamEvent } from './destination-relay.ts';
import type { StreamKind } from './stream-args.ts';
import { StreamEncoder } from './stream-encoder.ts';

export type { DestinationState, DestinationStatus, RetryPolicy, StreamEvent } from './destination-relay.ts';
export type { StreamKind } from './stream-args.ts';

export interface LiveStreamOptions {
  kind: StreamKind;
  /** Required for video streams: the size and rate of the frames passed to `writeVideo`. */
  video?: VideoFormat;
  audioBitrateKbps: number;
  videoBitrateKbps: number;
  policy: RetryPolicy;
  ffmpegPath: string;
  log: Logger;
  /**
   * An encode of these settings that others take tags from too: the stream neither feeds, starts
   * nor stops it (its owner does). Absent: the stream encodes on its own and is fed by writeAudio/writeVideo.
   */
  shared?: StreamEncoder;
}

export interface LiveStreamStatus {
  kind: StreamKind;
  /** The encoder: running, or restarting after it died (a rare event: it has no network). */
  encoder: 'running' | 'restarting' | 'stopped';
  encoderRestarts: number;
  /** Input dropped because the encoder was not taking it. */
  dropped: { audioChunks: number; videoFrames: number };
  destinations: DestinationStatus[];
}

export class LiveStream {
  readonly kind: StreamKind;
  readonly #opts: LiveStreamOptions;
  readonly #log: Logger;
  readonly #relays = new Map<string, DestinationRelay>();
  readonly #listeners = new Set<(event: StreamEvent) => void>();
  readonly #encoder: StreamEncoder;
  readonly #ownEncoder: boolean;
  #untake: (() => void) | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  constructor(opts: LiveStreamOptions) {
    if (opts.kind === 'video' && !opts.video && !opts.shared?.video) throw new Error('a video stream needs its video format');
    if (opts.shared && (opts.shared.video !== undefined) !== (opts.kind === 'video')) throw new Error(`a ${opts.kind} stream cannot take a ${opts.shared.video ? 'video' : 'audio-only'} encode`);
    this.kind = opts.kind;
    this.#opts = opts;
    this.#log = opts.log.child({ module: 'live-stream', kind: opts.kind });
    this.#ownEncoder = !opts.shared;
    this.#encoder =
      opts.shared ??
      new StreamEncoder({
        settings: {
          audio: PCM_48K_MONO,
          audioBitrateKbps: opts.audioBitrateKbps,
          ...(opts.kind === 'video' ? { video: { ...opts.video!, bitrateKbps: opts.videoBitrateKbps } } : {}),
        },
        ffmpegPath: opts.ffmpegPath,
        log: this.#log,
      });
  }

  /** Starts the encode; destinations may be added before or after. */
  start(): void {
    this.#untake = this.#encoder.take({
      tag: (tag) => {
        for (const relay of this.#relays.values()) relay.feed(tag);
      },
      // The encoder's output is a new FLV stream: every destination starts over with it.
      restarted: () => {
        for (const relay of this.#relays.values()) relay.restart();
      },
    });
    if (this.#ownEncoder) this.#encoder.start();
  }

  /** Room messages come from these: `live`, then `down` once and `back` once per outage, or `failed`. */
  onEvent(listener: (event: StreamEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts sending to one more destination. Its name must be new to this stream. */
  addDestination(destination: Destination): void {
    if (this.#stopped) throw new Error('the stream has stopped');
    if (this.#relays.has(destination.name)) throw new Error(`this stream already goes to ${destination.printable}`);
    const relay = new DestinationRelay({
      destination,
      source: { preamble: () => this.#encoder.preamble() },
      policy: this.#opts.policy,
      ffmpegPath: this.#opts.ffmpegPath,
      log: this.#log,
      onEvent: (event) => this.#emit(event),
    });
    this.#relays.set(destination.name, relay);
    relay.start();
  }

  /** Stops one destination (a clean end for its ingest); the others go on. */
  async removeDestination(name: string): Promise<boolean> {
    const relay = this.#relays.get(name);
    if (!relay) return false;
    this.#relays.delete(name);
    await relay.stop();
    return true;
  }

  get destinationNames(): string[] {
    return [...this.#relays.keys()];
  }

  /** One chunk of mixed audio (s16le 48 kHz mono), for a stream of its own encode. Not to be changed afterwards. */
  writeAudio(chunk: Int16Array): void {
    if (!this.#ownEncoder) throw new Error('a stream of a shared encode is fed by its owner');
    this.#encoder.writeAudio(chunk);
  }

  /** One raw frame of exactly the configured size, at the configured rate, for a stream of its own encode. */
  writeVideo(frame: Uint8Array): void {
    if (this.kind !== 'video') throw new Error('writeVideo on an audio-only stream');
    if (!this.#ownEncoder) throw new Error('a stream of a shared encode is fed by its owner');
    this.#encoder.writeVideo(frame);
  }

  /** Process ids of the encoder and of each destination's ffmpeg (for resource measurements). */
  processIds(): { encoder: number | undefined; destinations: Record<string, number | undefined> } {
    return {
      encoder: this.#encoder.pid,
      destinations: Object.fromEntries([...this.#relays].map(([name, relay]) => [name, relay.pid])),
    };
  }

  status(): LiveStreamStatus {
    return {
      kind: this.kind,
      encoder: this.#encoder.state,
      encoderRestarts: this.#encoder.restarts,
      dropped: this.#encoder.dropped,
      destinations: [...this.#relays.values()].map((r) => r.status()),
    };
  }

  /** Ends every destination cleanly, then its own encoder (a shared one is its owner's to stop). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopped = true;
      this.#untake?.();
      await Promise.all([...this.#relays.values()].map((r) => r.stop()));
      if (this.#ownEncoder) await this.#encoder.stop();
      this.#log.info('live stream stopped');
    })();
    return this.#stopping;
  }

  #emit(event: StreamEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#log.error({ err, event: event.type }, 'stream event listener failed');
      }
    }
  }
}
