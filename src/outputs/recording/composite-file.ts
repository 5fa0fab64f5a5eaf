// The composite video of a recording: the call's shared grid (CallVideo) and the recording's
// mixed audio, encoded by one ffmpeg reading raw I420 and PCM on two pipes (H.264 + Opus in
// Matroska). At the end the picture is padded to the audio's length, so both end together.
// Raw pictures carry no timestamps: ffmpeg times the n-th picture n/fps. So a picture the encoder
// could not take in time (it was starting, or the machine was busy) is not simply left out, which
// would put every later picture early against the sound: the last picture taken is shown again in
// its place, as soon as the encoder has room.
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import { PCM_48K_MONO } from '../../media/ffmpeg/audio-args.ts';
import { BoundedWriter } from '../../media/ffmpeg/bounded-writer.ts';
import { startFfmpeg, type FfmpegProcess } from '../../media/ffmpeg/process.ts';
import { compositeFileArgs } from '../../media/ffmpeg/video-args.ts';
import type { I420 } from '../../media/video/i420.ts';
import type { CallVideo } from '../../call/call-video.ts';
import { framesDropped } from '../../observability/metrics.ts';
import { i420Bytes } from '../../media/video/i420.ts';
import { MAX_PENDING_AUDIO_BYTES, type AudioFileResult } from './audio-files.ts';

/** Seconds of pictures that may wait while the encoder starts (BoundedWriter's start bound); one second after. */
const START_PENDING_SECONDS = 2;

export interface VideoResult extends AudioFileResult {
  frames: number;
  /** Pictures ffmpeg did not take in time (at most one second of them is ever waiting, two while it starts), each shown as the picture before it. */
  droppedFrames?: number;
}

export class CompositeFile {
  readonly path: string;
  readonly #video: CallVideo;
  readonly #log: Logger;
  readonly #ffmpeg: FfmpegProcess;
  /** While this says so (paused) no picture is kept: the file goes on where it stopped, like the audio. */
  readonly #skip: () => boolean;
  #unsubscribe: (() => void) | undefined;
  #frames = 0;
  #last: I420 | undefined;
  /**
   * A copy of the last picture the encoder took (the call's is valid for one frame), made when a
   * picture is first refused, and how many slots after it are still to be filled with it.
   */
  #taken: Uint8Array | undefined;
  #owed = 0;
  /** One bounded write queue per input pipe: ffmpeg reads both at its own pace, so a full pipe must never hold up the other. */
  readonly #writers: [BoundedWriter, BoundedWriter];

  constructor(opts: { dir: string; ffmpegPath: string; video: CallVideo; log: Logger; skip?: () => boolean }) {
    this.#video = opts.video;
    this.#skip = opts.skip ?? (() => false);
    this.#log = opts.log.child({ module: 'composite-file' });
    this.path = join(opts.dir, 'composite.mkv');
    this.#ffmpeg = startFfmpeg(compositeFileArgs(opts.video.format, PCM_48K_MONO, this.path), this.#log.child({ output: this.path }), opts.ffmpegPath, 2);
    const secondOfPictures = i420Bytes(opts.video.format) * opts.video.format.fps;
    this.#writers = [
      new BoundedWriter({ ffmpeg: this.#ffmpeg, input: 0, maxPendingBytes: secondOfPictures, startMaxPendingBytes: START_PENDING_SECONDS * secondOfPictures, log: this.#log, onDrop: (n) => framesDropped('recording_video', n), copy: true }),
      new BoundedWriter({ ffmpeg: this.#ffmpeg, input: 1, maxPendingBytes: MAX_PENDING_AUDIO_BYTES, log: this.#log, onDrop: (n) => framesDropped('recording_video_audio', n) }),
    ];
  }

  /** Starts taking pictures from the call's grid. */
  start(): void {
    this.#unsubscribe = this.#video.subscribe((canvas) => {
      if (!this.#skip()) this.#writeFrame(canvas);
    });
  }

  /** The recording's mixed audio, muxed with the picture. */
  writeAudio(chunk: Int16Array): void {
    this.#writers[1].write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  #writeFrame(canvas: I420): void {
    this.#last = canvas;
    this.#frames++;
    const bytes = canvas.data;
    // The slots owed come first; while some remain the bound is reached, and this picture (of the
    // same size) is refused too, so pictures never go out of order.
    this.#payOwed();
    const writer = this.#writers[0];
    if (writer.write(bytes)) return;
    // Refused at the bound, so the picture taken last still waits in the queue: copied from there
    // once, rather than every picture copied in case the next one is refused.
    if (this.#owed === 0) this.#taken = writer.newestPending()?.slice();
    this.#owed++;
  }

  #payOwed(): void {
    const writer = this.#writers[0];
    while (this.#owed > 0 && this.#taken && writer.fits(this.#taken.byteLength)) {
      writer.write(this.#taken);
      this.#owed--;
    }
  }

  /** Ends the picture at `durationMs` (the audio's length) and finishes the file. */
  async finish(durationMs: number): Promise<VideoResult> {
    this.#unsubscribe?.();
    const { fps } = this.#video.format;
    const total = Math.round((durationMs * fps) / 1000);
    while (this.#frames < total) this.#writeFrame(this.#last ?? this.#video.canvas());
    // Slots still owed at the end are filled as far as the bound lets (each a copy while queued).
    this.#payOwed();
    let error: string | undefined;
    await this.#ffmpeg.finish(Promise.all(this.#writers.map((w) => w.drained())).then(() => undefined)).catch((err: unknown) => {
      error = (err as Error).message;
    });
    // How ffmpeg ended says more than the write it broke (EPIPE), so it comes first.
    error ??= this.#writers[0].error ?? this.#writers[1].error;
    const dropped = this.#writers[0].dropped;
    const frames = this.#frames - this.#owed;
    return { path: this.path, frames, durationMs: (frames * 1000) / fps, ...(dropped > 0 ? { droppedFrames: dropped } : {}), ...(error ? { error } : {}) };
  }
}
