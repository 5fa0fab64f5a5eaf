// The audio of a recording: a mixed file of everyone and one stem per speaker, all driven by one
// AudioTimeline clock so they line up sample for sample with the recording's start. Files are
// Ogg Opus written progressively (playable up to the last second if the process is killed).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AudioFrame } from '@livekit/rtc-node';
import type { Logger } from '../../observability/logger.ts';
import { opusFileArgs, PCM_48K_MONO } from '../ffmpeg/audio-args.ts';
import { startFfmpeg, type FfmpegProcess } from '../ffmpeg/process.ts';
import { chunksDue, CHUNK_MS, CHUNK_SAMPLES, DEFAULT_TIMELINE, JitterBuffer, mixChunks, SAMPLE_RATE, type TimelineOptions } from './audio-timeline.ts';

export interface Speaker {
  /** Stable key (LiveKit identity or Matrix user+device): a rejoin continues the same stem. */
  key: string;
  /** File-safe label used in the stem's name. */
  label: string;
  userId?: string;
  deviceId?: string;
}

export interface AudioFileResult {
  path: string;
  durationMs: number;
  error?: string;
}

export interface StemResult extends AudioFileResult {
  speaker: Speaker;
  /** Offset from the recording's start of the first chunk with audio, in ms. */
  firstAudioMs?: number;
  /** Chunks (of CHUNK_MS) that carried audio rather than silence. */
  audioChunks: number;
}

export interface AudioRecording {
  startedAt: number;
  durationMs: number;
  mixed: AudioFileResult;
  stems: StemResult[];
}

/** One ffmpeg output fed in strict order; a failure is kept and reported, later writes are skipped. */
class OpusOutput {
  readonly path: string;
  readonly #ffmpeg: FfmpegProcess;
  readonly #log: Logger;
  #queue: Promise<void> = Promise.resolve();
  error: string | undefined;
  chunks = 0;

  constructor(path: string, ffmpegPath: string, log: Logger) {
    this.path = path;
    this.#log = log.child({ output: path });
    this.#ffmpeg = startFfmpeg(opusFileArgs(PCM_48K_MONO, path), this.#log, ffmpegPath);
  }

  write(chunk: Int16Array): void {
    this.chunks++;
    this.#queue = this.#queue.then(async () => {
      if (this.error) return;
      try {
        await this.#ffmpeg.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (err) {
        this.error = (err as Error).message;
        this.#log.error({ err }, 'audio output failed; the other outputs go on');
      }
    });
  }

  async finish(): Promise<AudioFileResult> {
    await this.#queue;
    await this.#ffmpeg.finish().catch((err: unknown) => {
      this.error ??= (err as Error).message;
    });
    return { path: this.path, durationMs: this.chunks * CHUNK_MS, ...(this.error ? { error: this.error } : {}) };
  }
}

interface SpeakerState {
  speaker: Speaker;
  buffer: JitterBuffer;
  stem: OpusOutput;
  firstAudioChunk?: number;
  audioChunks: number;
}

export interface AudioRecorderOptions {
  dir: string;
  ffmpegPath: string;
  log: Logger;
  timeline?: TimelineOptions;
  /** Receives every mixed chunk as it is written (the composite video's soundtrack). */
  onMixed?(chunk: Int16Array): void;
  /** Called once per speaker when its first audio is written. */
  onFirstAudio?(speaker: Speaker, offsetMs: number): void;
  now?: () => number;
}

const SILENCE = new Int16Array(CHUNK_SAMPLES);

export class AudioRecorder {
  readonly #opts: AudioRecorderOptions;
  readonly #log: Logger;
  readonly #speakers = new Map<string, SpeakerState>();
  readonly #pumps = new Set<Promise<void>>();
  readonly #now: () => number;
  #mixed: OpusOutput | undefined;
  #startedAt = 0;
  #emitted = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: AudioRecorderOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ module: 'audio-recorder' });
    this.#now = opts.now ?? Date.now;
    mkdirSync(opts.dir, { recursive: true });
  }

  get startedAt(): number {
    return this.#startedAt;
  }

  get speakers(): Speaker[] {
    return [...this.#speakers.values()].map((s) => s.speaker);
  }

  /** Each stem's file and speaker, so far. */
  get stemFiles(): Array<{ path: string; speaker: Speaker }> {
    return [...this.#speakers.values()].map((s) => ({ path: s.stem.path, speaker: s.speaker }));
  }

  /** Starts the clock: time zero of every file. */
  start(): void {
    this.#startedAt = this.#now();
    this.#mixed = new OpusOutput(join(this.#opts.dir, 'mixed.ogg'), this.#opts.ffmpegPath, this.#log);
    this.#timer = setInterval(() => this.#tick(), CHUNK_MS / 2);
  }

  /** Feeds a received track into its speaker's stem (created on first use, silent up to now). */
  addTrack(speaker: Speaker, frames: AsyncIterable<AudioFrame>): void {
    const state = this.#speakerState(speaker);
    const pump = (async () => {
      for await (const frame of frames) {
        if (frame.sampleRate !== SAMPLE_RATE || frame.channels !== 1) {
          this.#log.error({ speaker: speaker.key, sampleRate: frame.sampleRate, channels: frame.channels }, 'unexpected PCM format; dropping the track');
          return;
        }
        state.buffer.push(frame.data);
      }
    })().catch((err: unknown) => this.#log.error({ err, speaker: speaker.key }, 'audio track failed'));
    this.#pumps.add(pump);
    void pump.finally(() => this.#pumps.delete(pump));
  }

  #speakerState(speaker: Speaker): SpeakerState {
    let state = this.#speakers.get(speaker.key);
    if (state) return state;
    const index = String(this.#speakers.size + 1).padStart(2, '0');
    const stem = new OpusOutput(join(this.#opts.dir, `stem-${index}-${speaker.label}.ogg`), this.#opts.ffmpegPath, this.#log);
    // Time-aligned with the recording's start: silence up to the moment this speaker appears.
    for (let i = 0; i < this.#emitted; i++) stem.write(SILENCE);
    state = { speaker, buffer: new JitterBuffer(this.#opts.timeline ?? DEFAULT_TIMELINE), stem, audioChunks: 0 };
    this.#speakers.set(speaker.key, state);
    return state;
  }

  #tick(): void {
    // Audio waits a prebuffer in its jitter buffer before it plays out, so the chunk written at
    // offset t is emitted at t + prebuffer: audio heard at wall time W lands at W - startedAt.
    const { prebufferMs } = this.#opts.timeline ?? DEFAULT_TIMELINE;
    const due = chunksDue(this.#startedAt + prebufferMs, this.#now(), this.#emitted);
    for (let i = 0; i < due; i++) this.#emitChunk();
  }

  #emitChunk(): void {
    const chunks: Array<Int16Array | undefined> = [];
    for (const state of this.#speakers.values()) {
      const chunk = state.buffer.take(CHUNK_SAMPLES);
      chunks.push(chunk);
      state.stem.write(chunk ?? SILENCE);
      if (chunk) {
        state.audioChunks++;
        if (state.firstAudioChunk === undefined) {
          state.firstAudioChunk = this.#emitted;
          this.#opts.onFirstAudio?.(state.speaker, this.#emitted * CHUNK_MS);
        }
      }
    }
    const mixed = mixChunks(chunks);
    this.#mixed!.write(mixed);
    this.#opts.onMixed?.(mixed);
    this.#emitted++;
  }

  /** Stops the clock and finishes every file (the track iterators must have been ended by the caller). */
  async finish(): Promise<AudioRecording> {
    clearInterval(this.#timer);
    this.#tick();
    await Promise.all(this.#pumps);
    // What still waits in the prebuffers was heard before the stop: play it out.
    const { prebufferMs } = this.#opts.timeline ?? DEFAULT_TIMELINE;
    for (let i = 0; i < prebufferMs / CHUNK_MS; i++) this.#emitChunk();
    const mixed = await this.#mixed!.finish();
    const stems = await Promise.all(
      [...this.#speakers.values()].map(async (state): Promise<StemResult> => ({
        ...(await state.stem.finish()),
        speaker: state.speaker,
        audioChunks: state.audioChunks,
        ...(state.firstAudioChunk !== undefined ? { firstAudioMs: state.firstAudioChunk * CHUNK_MS } : {}),
      })),
    );
    return { startedAt: this.#startedAt, durationMs: this.#emitted * CHUNK_MS, mixed, stems };
  }
}
