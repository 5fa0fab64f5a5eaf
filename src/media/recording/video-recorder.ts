// The composite video of a recording: a grid with one tile per call member (their latest video
// frame, or black for members without video) composed on the recording's clock and encoded with
// the mixed audio by one ffmpeg. Frame count follows wall-clock time, so the video keeps the
// audio's length even when members send at other rates or not at all.
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import { PCM_48K_MONO } from '../ffmpeg/audio-args.ts';
import { startFfmpeg, type FfmpegProcess } from '../ffmpeg/process.ts';
import { compositeFileArgs, type VideoFormat } from '../ffmpeg/video-args.ts';
import { blankI420, drawI420, gridLayout, type I420 } from '../video/grid.ts';
import type { AudioFileResult } from './audio-recorder.ts';

export interface VideoRecorderOptions {
  dir: string;
  ffmpegPath: string;
  format: VideoFormat;
  log: Logger;
  now?: () => number;
}

export interface VideoResult extends AudioFileResult {
  frames: number;
}

export class VideoRecorder {
  readonly path: string;
  readonly #opts: VideoRecorderOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #ffmpeg: FfmpegProcess;
  readonly #latest = new Map<string, I420>();
  #members: string[] = [];
  #canvas: I420;
  #dirty = true;
  #startedAt = 0;
  #frames = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** One write queue per input pipe: ffmpeg reads both at its own pace, so a full pipe must never hold up the other. */
  readonly #queues: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
  #error: string | undefined;

  constructor(opts: VideoRecorderOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ module: 'video-recorder' });
    this.#now = opts.now ?? Date.now;
    this.path = join(opts.dir, 'composite.mkv');
    this.#canvas = blankI420(opts.format);
    this.#ffmpeg = startFfmpeg(compositeFileArgs(opts.format, PCM_48K_MONO, this.path), this.#log.child({ output: this.path }), opts.ffmpegPath, 2);
  }

  /** Starts the picture clock at the recording's time zero. */
  start(startedAt: number): void {
    this.#startedAt = startedAt;
    this.#timer = setInterval(() => this.#tick(), 1000 / this.#opts.format.fps / 2);
  }

  /** The members shown, in tile order (everyone in the call, with or without video). */
  setMembers(keys: string[]): void {
    if (keys.join('\n') === this.#members.join('\n')) return;
    this.#members = [...keys];
    this.#dirty = true;
  }

  /** Shows a member's video track: each frame replaces the last one in their tile. */
  addTrack(key: string, frames: AsyncIterable<I420>): void {
    void (async () => {
      for await (const frame of frames) {
        this.#latest.set(key, frame);
        this.#dirty = true;
      }
    })().catch((err: unknown) => this.#log.error({ err, member: key }, 'video track failed'));
  }

  /** Mixed audio on the recording's clock (from the audio recorder), muxed with the picture. */
  writeAudio(chunk: Int16Array): void {
    this.#enqueue(chunk, 1);
  }

  #tick(): void {
    const frameMs = 1000 / this.#opts.format.fps;
    const due = Math.floor((this.#now() - this.#startedAt) / frameMs) - this.#frames;
    for (let i = 0; i < due; i++) this.#emitFrame();
  }

  #emitFrame(): void {
    // A written buffer may still sit in the pipe: compose into a new one when anything changed.
    if (this.#dirty) {
      const canvas = blankI420(this.#opts.format);
      const tiles = gridLayout(this.#members.length, this.#opts.format);
      this.#members.forEach((key, i) => {
        const frame = this.#latest.get(key);
        if (frame) drawI420(canvas.data, canvas, tiles[i]!, frame);
      });
      this.#canvas = canvas;
      this.#dirty = false;
    }
    this.#enqueue(this.#canvas.data, 0);
    this.#frames++;
  }

  #enqueue(bytes: Uint8Array | Int16Array, input: number): void {
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#queues[input] = this.#queues[input]!.then(async () => {
      if (this.#error) return;
      try {
        await this.#ffmpeg.write(view, input);
      } catch (err) {
        this.#error = (err as Error).message;
        this.#log.error({ err }, 'the composite video failed; the audio files go on');
      }
    });
  }

  /** Ends the picture at `durationMs` (the audio's length) and finishes the file. */
  async finish(durationMs: number): Promise<VideoResult> {
    clearInterval(this.#timer);
    const total = Math.round((durationMs * this.#opts.format.fps) / 1000);
    while (this.#frames < total) this.#emitFrame();
    await Promise.all(this.#queues);
    await this.#ffmpeg.finish().catch((err: unknown) => {
      this.#error ??= (err as Error).message;
    });
    return { path: this.path, frames: this.#frames, durationMs: (this.#frames * 1000) / this.#opts.format.fps, ...(this.#error ? { error: this.#error } : {}) };
  }
}
