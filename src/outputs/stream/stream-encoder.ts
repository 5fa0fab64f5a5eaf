// One encode of the call's media into FLV tags (H.264 + AAC, or AAC alone), for whoever takes
// them: a live stream's destinations, and a recording whose composite video has the same settings
// (shared-encoders.ts). The encoder restarts by itself when it dies; its takers are told, since the
// new process is a new FLV stream (timestamps from 0, its own sequence headers).
//
// Input is what the recording clock produces: s16le 48 kHz mono PCM chunks and, for video, raw
// frames of `video.width`×`video.height` at `video.fps` (the caller paces them; ffmpeg timestamps
// raw frames by count). What arrives while the encoder cannot take it is dropped and counted.
import type { Logger } from '../../observability/logger.ts';
import { ffmpegRestarted, framesDropped } from '../../observability/metrics.ts';
import { PCM_48K_MONO } from '../../media/ffmpeg/audio-args.ts';
import type { VideoFormat } from '../../media/ffmpeg/video-args.ts';
import { freeNow } from '../../media/video/young-garbage.ts';
import { FlvReader, TagType, type FlvTag } from './flv.ts';
import { encoderArgs, rawFrameBytes, type EncodeSettings } from './stream-args.ts';
import { startStreamProcess, type StreamProcess } from './stream-process.ts';

export type EncoderState = 'running' | 'restarting' | 'stopped';

/** What takes the encoder's output. `frame` is, for a picture, the number `writeVideo` gave its input. */
export interface EncodedTaker {
  tag(tag: FlvTag, frame: number | undefined): void;
  /** The encoder died and starts again: what follows is a new FLV stream. */
  restarted?(): void;
}

/**
 * Input queued for the encoder beyond this many seconds is dropped rather than held. ffmpeg takes
 * about a second to start reading a 720p30 video pipe (process start, x264 set-up; measured): until
 * its first output, more is allowed, and what is dropped then is not evened out (see #skip), since
 * ffmpeg opens its inputs one after the other and starving the other one could stall its start.
 */
const MAX_PENDING_SECONDS = 1;
const MAX_PENDING_SECONDS_AT_START = 3;
const STARTUP_DRAIN_MS = 5_000;

export class StreamEncoder {
  readonly settings: EncodeSettings;
  /** The ffmpeg arguments: two encoders with equal arguments make equal packets, so one can serve both. */
  readonly args: string[];
  readonly #ffmpegPath: string;
  readonly #log: Logger;
  readonly #takers = new Set<EncodedTaker>();
  #process: StreamProcess | undefined;
  #reader = new FlvReader();
  /** Header, metadata and sequence headers of the current encode: what every (re)joining taker starts with. */
  #preamble: { header?: Uint8Array; metadata?: Uint8Array; video?: Uint8Array; audio?: Uint8Array } = {};
  #state: EncoderState = 'stopped';
  #restarts = 0;
  #dropped = { audioChunks: 0, videoFrames: 0 };
  /**
   * Raw inputs are timed by count: a video frame dropped alone would put the picture behind the sound
   * for good, and the muxer, which interleaves by time, would hold the sound back by as much (measured:
   * 15 frames dropped while x264 started made the stream 0.5 s later). So what one input loses is left
   * out of the other too.
   */
  #skip = { audioSamples: 0, videoMs: 0 };
  /**
   * The encoder has produced output (it reads both inputs now) and worked off what queued while it
   * started: dropping at the one-second bound before then would cut pictures out of a backlog that
   * is about to drain (measured: 2 pictures lost 1.3 s into a 720p15 encode on a busy machine).
   * An encoder that never catches up is held to the bound from STARTUP_DRAIN_MS after its first output.
   */
  #warm = false;
  #firstOutputAt: number | undefined;
  /** Pictures numbered by `writeVideo`, in the order given; those written to this process by their index in it. */
  #nextFrame = 0;
  #written = new Map<number, number>();
  #writtenCount = 0;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  constructor(opts: { settings: EncodeSettings; ffmpegPath: string; log: Logger }) {
    this.settings = opts.settings;
    this.args = encoderArgs(opts.settings);
    this.#ffmpegPath = opts.ffmpegPath;
    this.#log = opts.log.child({ module: 'stream-encoder', video: opts.settings.video !== undefined });
  }

  get video(): VideoFormat | undefined {
    return this.settings.video;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  get state(): EncoderState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get dropped(): { audioChunks: number; videoFrames: number } {
    return { ...this.#dropped };
  }

  start(): void {
    if (this.#stopped) throw new Error('the encoder has stopped');
    if (!this.#process && this.#state === 'stopped') this.#start();
  }

  /** Adds a taker of the encoded tags; returns its removal. */
  take(taker: EncodedTaker): () => void {
    this.#takers.add(taker);
    return () => this.#takers.delete(taker);
  }

  /** FLV header + metadata + sequence headers of the running encode, or undefined before it produced them. */
  preamble(): Uint8Array[] | undefined {
    const p = this.#preamble;
    if (!p.header || !p.audio || (this.settings.video && !p.video)) return undefined;
    return [p.header, ...(p.metadata ? [p.metadata] : []), ...(p.video ? [p.video] : []), p.audio];
  }

  /** The AVC sequence header of the running encode (what a video-only taker starts with). */
  videoConfig(): Uint8Array | undefined {
    return this.#preamble.video;
  }

  /** One chunk of mixed audio (s16le 48 kHz mono). The caller must not change it afterwards (it may still sit in the pipe). */
  writeAudio(chunk: Int16Array): void {
    const input = this.settings.video ? 1 : 0;
    const encoder = this.#process;
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
      if (this.settings.video && this.#warm) this.#skip.videoMs += (samples.length * 1000) / PCM_48K_MONO.sampleRate;
      return;
    }
    encoder.write(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength), input);
  }

  /**
   * One raw picture of exactly the configured size, at the configured rate. Not to be changed
   * afterwards. Returns its number: the tag that carries it comes with the same number (a picture
   * that was dropped never comes).
   */
  writeVideo(frame: Uint8Array): number {
    const format = this.settings.video;
    if (!format) throw new Error('writeVideo on an audio-only encoder');
    const expected = rawFrameBytes(format);
    if (frame.byteLength !== expected) throw new Error(`a raw picture of ${format.width}x${format.height} has ${expected} bytes, not ${frame.byteLength}`);
    const number = this.#nextFrame++;
    const encoder = this.#process;
    const frameMs = 1000 / format.fps;
    if (!encoder || this.#skip.videoMs >= frameMs) {
      if (encoder) this.#skip.videoMs -= frameMs;
      this.#dropVideo();
      return number;
    }
    if (encoder.pending(0) > this.#maxPendingSeconds() * format.fps * expected) {
      this.#dropVideo();
      if (this.#warm) this.#skip.audioSamples += Math.round(PCM_48K_MONO.sampleRate / format.fps);
      return number;
    }
    // ffmpeg times raw pictures by count: the n-th one written to this process comes out at n/fps.
    this.#written.set(this.#writtenCount++, number);
    // The picture is the call's, valid until its next one: the pipe gets a copy of its own, freed
    // as soon as the pipe has taken it (not left for the collector, young-garbage.ts says why).
    const copy = frame.slice();
    encoder.write(copy, 0, () => freeNow(copy));
    return number;
  }

  /** Ends the encode (its input pipes, then a kill after 3 s). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopped = true;
      clearTimeout(this.#restartTimer);
      const encoder = this.#process;
      this.#process = undefined;
      this.#state = 'stopped';
      if (encoder) {
        encoder.end();
        const timer = setTimeout(() => encoder.kill(), 3_000);
        await encoder.exited;
        clearTimeout(timer);
      }
      this.#log.info({ restarts: this.#restarts, dropped: this.#dropped }, 'stream encoder stopped');
    })();
    return this.#stopping;
  }

  #start(): void {
    this.#reader = new FlvReader();
    this.#preamble = {};
    this.#skip = { audioSamples: 0, videoMs: 0 };
    this.#warm = false;
    this.#firstOutputAt = undefined;
    this.#written = new Map();
    this.#writtenCount = 0;
    const encoder = startStreamProcess({
      ffmpegPath: this.#ffmpegPath,
      args: this.args,
      inputs: this.settings.video ? 2 : 1,
      mask: (line) => line,
      onStdout: (chunk) => this.#onEncoded(chunk),
      onStderrLine: (line) => this.#log.debug({ line }, 'ffmpeg (stream encoder)'),
    });
    this.#process = encoder;
    this.#state = 'running';
    void encoder.exited.then((exit) => {
      if (this.#process !== encoder) return;
      this.#process = undefined;
      if (this.#stopped) return;
      // Nothing outside this machine can make the encoder fail, so one restart a second at most is enough.
      this.#state = 'restarting';
      this.#restarts++;
      ffmpegRestarted('stream_encoder');
      this.#log.error({ exitCode: exit.code, signal: exit.signal, stderr: exit.stderr.slice(-5) }, 'stream encoder died; restarting it');
      for (const taker of this.#takers) this.#safely(() => taker.restarted?.());
      this.#restartTimer = setTimeout(() => this.#start(), 1_000);
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

  /** Seconds of input waiting in the pipes, the longer of the two. */
  #backlogSeconds(): number {
    const encoder = this.#process;
    if (!encoder) return 0;
    const video = this.settings.video;
    const audio = encoder.pending(video ? 1 : 0) / (PCM_48K_MONO.sampleRate * 2);
    return video ? Math.max(audio, encoder.pending(0) / (rawFrameBytes(video) * video.fps)) : audio;
  }

  #maxPendingSeconds(): number {
    return this.#warm ? MAX_PENDING_SECONDS : MAX_PENDING_SECONDS_AT_START;
  }

  #onEncoded(chunk: Buffer): void {
    if (!this.#warm) {
      this.#firstOutputAt ??= Date.now();
      this.#warm = this.#backlogSeconds() <= MAX_PENDING_SECONDS || Date.now() - this.#firstOutputAt > STARTUP_DRAIN_MS;
    }
    let tags: FlvTag[];
    try {
      tags = this.#reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (err) {
      this.#log.error({ err }, 'stream encoder output unreadable; restarting it');
      this.#process?.kill();
      return;
    }
    this.#preamble.header ??= this.#reader.header;
    for (const tag of tags) {
      if (tag.config) {
        if (tag.type === TagType.script) this.#preamble.metadata = tag.bytes;
        else if (tag.type === TagType.video) this.#preamble.video = tag.bytes;
        else if (tag.type === TagType.audio) this.#preamble.audio = tag.bytes;
      }
      const frame = tag.type === TagType.video && !tag.config ? this.#frameOf(tag.timestamp) : undefined;
      for (const taker of this.#takers) this.#safely(() => taker.tag(tag, frame));
    }
  }

  /** The number of the picture a video tag carries, from its timestamp (ffmpeg's count of pictures in). */
  #frameOf(timestampMs: number): number | undefined {
    const index = Math.round((timestampMs * this.settings.video!.fps) / 1000);
    const frame = this.#written.get(index);
    for (const key of this.#written.keys()) {
      if (key > index) break;
      this.#written.delete(key);
    }
    return frame;
  }

  /** A taker that throws is its own failure: the others, and the encode, go on. */
  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err }, 'a taker of the encoded stream failed; the others go on');
    }
  }
}
