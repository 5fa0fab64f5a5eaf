// A live stream of a call: the mixed audio (and, for video streams, the composed picture) encoded
// once, and sent on to any number of destinations that are added and removed while it runs. Each
// destination reconnects by itself (destination-relay.ts); the encode never stops for them.
//
// Input is what the recording clock produces: s16le 48 kHz mono PCM chunks and, for video, I420
// frames of `video.width`×`video.height` at `video.fps` (the caller paces them; ffmpeg timestamps
// raw frames by count). What arrives while the encoder cannot take it is dropped and counted.
import type { Logger } from '../../observability/logger.ts';
import { ffmpegRestarted, framesDropped } from '../../observability/metrics.ts';
import { PCM_48K_MONO } from '../../media/ffmpeg/audio-args.ts';
import type { VideoFormat } from '../../media/ffmpeg/video-args.ts';
import type { Destination } from './destination.ts';
import { DestinationRelay, type DestinationStatus, type RetryPolicy, type StreamEvent } from './destination-relay.ts';
import { FlvReader, TagType, type FlvTag } from './flv.ts';
import { encoderArgs, type StreamKind } from './stream-args.ts';
import { startStreamProcess, type StreamProcess } from './stream-process.ts';

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

/**
 * Input queued for the encoder beyond this many seconds is dropped rather than held. ffmpeg takes
 * about a second to start reading a 720p30 video pipe (process start, x264 set-up; measured): until
 * its first output, more is allowed, and what is dropped then is not evened out (see #skip), since
 * ffmpeg opens its inputs one after the other and starving the other one could stall its start.
 */
const MAX_PENDING_SECONDS = 1;
const MAX_PENDING_SECONDS_AT_START = 3;

export class LiveStream {
  readonly kind: StreamKind;
  readonly #opts: LiveStreamOptions;
  readonly #log: Logger;
  readonly #relays = new Map<string, DestinationRelay>();
  readonly #listeners = new Set<(event: StreamEvent) => void>();
  #encoder: StreamProcess | undefined;
  #reader = new FlvReader();
  /** Header, metadata and sequence headers of the current encode: what every (re)joining destination starts with. */
  #preamble: { header?: Uint8Array; metadata?: Uint8Array; video?: Uint8Array; audio?: Uint8Array } = {};
  #encoderState: LiveStreamStatus['encoder'] = 'stopped';
  #encoderRestarts = 0;
  #dropped = { audioChunks: 0, videoFrames: 0 };
  /**
   * Raw inputs are timed by count: a video frame dropped alone would put the picture behind the sound
   * for good, and the muxer, which interleaves by time, would hold the sound back by as much (measured:
   * 15 frames dropped while x264 started made the stream 0.5 s later). So what one input loses is left
   * out of the other too.
   */
  #skip = { audioSamples: 0, videoMs: 0 };
  /** The encoder has produced output (it reads both inputs now). */
  #warm = false;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  constructor(opts: LiveStreamOptions) {
    if (opts.kind === 'video' && !opts.video) throw new Error('a video stream needs its video format');
    this.kind = opts.kind;
    this.#opts = opts;
    this.#log = opts.log.child({ module: 'live-stream', kind: opts.kind });
  }

  /** Starts the encode; destinations may be added before or after. */
  start(): void {
    this.#startEncoder();
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
      source: { preamble: () => this.#preambleParts() },
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

  /** One chunk of mixed audio (s16le 48 kHz mono). The caller must not change it afterwards (it may still sit in the pipe). */
  writeAudio(chunk: Int16Array): void {
    const input = this.kind === 'video' ? 1 : 0;
    const encoder = this.#encoder;
    if (!encoder) {
      this.#dropAudio();
      return;
    }
    let samples = chunk;
    if (this.#skip.audioSamples > 0) {
      const skip = Math.min(this.#skip.audioSamples, samples.length);
      this.#skip.audioSamples -= skip;
      samples = samples.subarray(skip);
      if (samples.length === 0) return;
    }
    if (encoder.pending(input) > this.#maxPendingSeconds() * PCM_48K_MONO.sampleRate * 2) {
      this.#dropAudio();
      if (this.kind === 'video' && this.#warm) this.#skip.videoMs += (samples.length * 1000) / PCM_48K_MONO.sampleRate;
      return;
    }
    encoder.write(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength), input);
  }

  /** One I420 frame of exactly the configured size, at the configured rate. Not to be changed afterwards. */
  writeVideo(frame: Uint8Array): void {
    const format = this.#opts.video;
    if (this.kind !== 'video' || !format) throw new Error('writeVideo on an audio-only stream');
    const expected = (format.width * format.height * 3) / 2;
    if (frame.byteLength !== expected) throw new Error(`an I420 frame of ${format.width}x${format.height} has ${expected} bytes, not ${frame.byteLength}`);
    const encoder = this.#encoder;
    const frameMs = 1000 / format.fps;
    if (!encoder || this.#skip.videoMs >= frameMs) {
      if (encoder) this.#skip.videoMs -= frameMs;
      this.#dropVideo();
      return;
    }
    if (encoder.pending(0) > this.#maxPendingSeconds() * format.fps * expected) {
      this.#dropVideo();
      if (this.#warm) this.#skip.audioSamples += Math.round(PCM_48K_MONO.sampleRate / format.fps);
      return;
    }
    encoder.write(frame, 0);
  }

  /** Process ids of the encoder and of each destination's ffmpeg (for resource measurements). */
  processIds(): { encoder: number | undefined; destinations: Record<string, number | undefined> } {
    return {
      encoder: this.#encoder?.pid,
      destinations: Object.fromEntries([...this.#relays].map(([name, relay]) => [name, relay.pid])),
    };
  }

  status(): LiveStreamStatus {
    return {
      kind: this.kind,
      encoder: this.#encoderState,
      encoderRestarts: this.#encoderRestarts,
      dropped: { ...this.#dropped },
      destinations: [...this.#relays.values()].map((r) => r.status()),
    };
  }

  /** Ends every destination cleanly, then the encoder. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopped = true;
      clearTimeout(this.#restartTimer);
      await Promise.all([...this.#relays.values()].map((r) => r.stop()));
      const encoder = this.#encoder;
      this.#encoder = undefined;
      this.#encoderState = 'stopped';
      if (encoder) {
        encoder.end();
        const timer = setTimeout(() => encoder.kill(), 3_000);
        await encoder.exited;
        clearTimeout(timer);
      }
      this.#log.info('live stream stopped');
    })();
    return this.#stopping;
  }

  #startEncoder(): void {
    const video = this.kind === 'video' ? { ...this.#opts.video!, bitrateKbps: this.#opts.videoBitrateKbps } : undefined;
    const args = encoderArgs({ audio: PCM_48K_MONO, audioBitrateKbps: this.#opts.audioBitrateKbps, ...(video ? { video } : {}) });
    this.#reader = new FlvReader();
    this.#preamble = {};
    this.#skip = { audioSamples: 0, videoMs: 0 };
    this.#warm = false;
    const encoder = startStreamProcess({
      ffmpegPath: this.#opts.ffmpegPath,
      args,
      inputs: this.kind === 'video' ? 2 : 1,
      mask: (line) => line,
      onStdout: (chunk) => this.#onEncoded(chunk),
      onStderrLine: (line) => this.#log.debug({ line }, 'ffmpeg (stream encoder)'),
    });
    this.#encoder = encoder;
    this.#encoderState = 'running';
    void encoder.exited.then((exit) => {
      if (this.#encoder !== encoder) return;
      this.#encoder = undefined;
      if (this.#stopped) return;
      // Nothing outside this machine can make the encoder fail, so one restart a second at most is enough.
      this.#encoderState = 'restarting';
      this.#encoderRestarts++;
      ffmpegRestarted('stream_encoder');
      this.#log.error({ exitCode: exit.code, signal: exit.signal, stderr: exit.stderr.slice(-5) }, 'stream encoder died; restarting it');
      for (const relay of this.#relays.values()) relay.restart();
      this.#restartTimer = setTimeout(() => this.#startEncoder(), 1_000);
    });
  }

  #dropAudio(): void {
    this.#dropped.audioChunks++;
    framesDropped('stream_audio');
  }

  #dropVideo(): void {
    this.#dropped.videoFrames++;
    framesDropped('stream_video');
  }

  #maxPendingSeconds(): number {
    return this.#warm ? MAX_PENDING_SECONDS : MAX_PENDING_SECONDS_AT_START;
  }

  #onEncoded(chunk: Buffer): void {
    this.#warm = true;
    let tags: FlvTag[];
    try {
      tags = this.#reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (err) {
      this.#log.error({ err }, 'stream encoder output unreadable; restarting it');
      this.#encoder?.kill();
      return;
    }
    this.#preamble.header ??= this.#reader.header;
    for (const tag of tags) {
      if (tag.config) {
        if (tag.type === TagType.script) this.#preamble.metadata = tag.bytes;
        else if (tag.type === TagType.video) this.#preamble.video = tag.bytes;
        else if (tag.type === TagType.audio) this.#preamble.audio = tag.bytes;
      }
      for (const relay of this.#relays.values()) relay.feed(tag);
    }
  }

  #preambleParts(): Uint8Array[] | undefined {
    const p = this.#preamble;
    if (!p.header || !p.audio || (this.kind === 'video' && !p.video)) return undefined;
    return [p.header, ...(p.metadata ? [p.metadata] : []), ...(p.video ? [p.video] : []), p.audio];
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
