// The call's one picture, shared by every video output: a grid with a tile per call member
// (their latest camera frame scaled in, black for members without video), composed when
// something changed and handed to every subscriber at the frame rate. The clock runs only while
// some output wants pictures, so audio-only sessions pay nothing for it.
import type { Logger } from '../observability/logger.ts';
import { blankI420, drawI420, fillI420, gridLayout, type I420 } from '../media/video/grid.ts';
import type { VideoFormat } from '../media/ffmpeg/video-args.ts';

export type VideoSubscriber = (canvas: I420) => void;

export interface CallVideoOptions {
  format: VideoFormat;
  log: Logger;
  /** Nothing of the call is shown while this says so (the recording is paused). */
  paused?: () => boolean;
  /** A member (by tile key) whose picture is not to be recorded: their tile stays empty. */
  hidden?: (key: string) => boolean;
  now?: () => number;
}

/** Y, U, V of the dark grey of a member who is not recorded: a tile, but nothing of them. */
const NOT_RECORDED = [40, 128, 128] as const;

export class CallVideo {
  readonly format: VideoFormat;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #paused: () => boolean;
  readonly #hidden: (key: string) => boolean;
  readonly #latest = new Map<string, I420>();
  readonly #subscribers = new Set<VideoSubscriber>();
  #members: string[] = [];
  #canvas: I420;
  #dirty = true;
  #clockStart = 0;
  #frames = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Members whose latest frame no clock frame has shown yet. */
  readonly #unshown = new Set<string>();
  /** Since the clock started: frames received, frames replaced before shown, clock frames with nothing new. */
  #stats = { received: 0, replacedUnseen: 0, repeated: 0 };

  constructor(opts: CallVideoOptions) {
    this.format = opts.format;
    this.#log = opts.log.child({ module: 'call-video' });
    this.#now = opts.now ?? Date.now;
    this.#paused = opts.paused ?? (() => false);
    this.#hidden = opts.hidden ?? (() => false);
    this.#canvas = blankI420(opts.format);
  }

  /** The members shown, in tile order (everyone in the call, with or without video). */
  setMembers(keys: string[]): void {
    if (keys.join('\n') === this.#members.join('\n')) return;
    this.#members = [...keys];
    this.#dirty = true;
  }

  /** Composes anew at the next frame (who may be shown changed). */
  invalidate(): void {
    this.#dirty = true;
  }

  /** Shows a member's video track: each frame replaces the last one in their tile. */
  addTrack(key: string, frames: AsyncIterable<I420>): void {
    void (async () => {
      for await (const frame of frames) {
        this.#latest.set(key, frame);
        this.#dirty = true;
        this.#stats.received++;
        if (this.#unshown.has(key)) this.#stats.replacedUnseen++;
        else this.#unshown.add(key);
      }
    })().catch((err: unknown) => this.#log.error({ err, member: key }, 'video track failed'));
  }

  /** The current picture (composed now if anything changed). */
  canvas(): I420 {
    // A handed-out buffer may still sit in a pipe: compose into a new one when anything changed.
    if (this.#dirty) {
      const canvas = blankI420(this.format);
      const tiles = gridLayout(this.#members.length, this.format);
      if (!this.#paused()) {
        this.#members.forEach((key, i) => {
          if (this.#hidden(key)) return fillI420(canvas.data, canvas, tiles[i]!, NOT_RECORDED);
          const frame = this.#latest.get(key);
          if (frame) drawI420(canvas.data, canvas, tiles[i]!, frame);
        });
      }
      this.#canvas = canvas;
      this.#dirty = false;
    }
    return this.#canvas;
  }

  /** Adds an output; the clock starts with the first and stops with the last. */
  subscribe(subscriber: VideoSubscriber): () => void {
    this.#subscribers.add(subscriber);
    if (!this.#timer) {
      this.#clockStart = this.#now();
      this.#frames = 0;
      this.#stats = { received: 0, replacedUnseen: 0, repeated: 0 };
      this.#timer = setInterval(() => this.#tick(), 1000 / this.format.fps / 2);
    }
    return () => {
      this.#subscribers.delete(subscriber);
      if (this.#subscribers.size === 0) this.stop();
    };
  }

  stop(): void {
    // Frames lost or shown twice between the cameras and the clock (the benchmark reads this line).
    if (this.#timer) this.#log.info({ frames: this.#frames, ...this.#stats }, 'video clock stopped');
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const due = Math.floor((this.#now() - this.#clockStart) / (1000 / this.format.fps)) - this.#frames;
    for (let i = 0; i < due; i++) {
      if (!this.#dirty) this.#stats.repeated++;
      const canvas = this.canvas();
      this.#unshown.clear();
      this.#frames++;
      for (const subscriber of this.#subscribers) {
        try {
          subscriber(canvas);
        } catch (err) {
          this.#log.error({ err }, 'a video output failed on a frame; the others go on');
        }
      }
    }
  }
}
