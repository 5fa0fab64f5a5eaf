// Several Opus files of a recording written by one ffmpeg. The mix and the stems are fed on one
// clock, so they can share an encoder process: one interleaved multichannel s16le input (a channel
// per file), split inside ffmpeg into one Ogg Opus output per file. Against one ffmpeg per file this
// saves N spawns (each blocks the event loop), N processes' wake-ups and most pipe writes: measured
// with 9 files fed in real time, ffmpeg's CPU fell from 1.74 to 0.95 CPU-s per 20 s.
//
// Files opened within FORMING_CHUNKS of each other (the mix and everyone heard in the recording's
// first second; or every file of an encoder that died, reopened as parts at once) share one
// ffmpeg, started when that window closes; what they were given meanwhile is written then. A file
// opened later starts its own. Each file's channel is trimmed to the chunk it joined at, and its
// lead of silence (a speaker heard late) is made by ffmpeg, so the silence costs nothing here.
// Chunks are written BATCH_CHUNKS at a time (100 ms per write instead of 20 ms).
//
// What a shared process costs: when it dies, every file it wrote goes on in a new part (each
// file's PartedOutput sees the exit), not only one.
import { opusFilesArgs, type OpusChannelOutput } from '../../media/ffmpeg/audio-args.ts';
import { BoundedWriter } from '../../media/ffmpeg/bounded-writer.ts';
import { startFfmpeg, type FfmpegProcess } from '../../media/ffmpeg/process.ts';
import { CHUNK_MS, CHUNK_SAMPLES } from '../../media/recording/audio-timeline.ts';
import type { Logger } from '../../observability/logger.ts';
import { framesDropped } from '../../observability/metrics.ts';
import type { FilePart } from './parted-output.ts';

/** Files opened within this many chunks (1 s) of the first share its ffmpeg. */
export const FORMING_CHUNKS = 50;
/** Chunks per pipe write (100 ms). */
export const BATCH_CHUNKS = 5;
/** Files per ffmpeg at most: beyond, a new one is started. */
export const MAX_FILES_PER_ENCODER = 32;

export interface OpusFileResult {
  path: string;
  durationMs: number;
  droppedMs?: number;
  leadMs?: number;
  error?: string;
}

export interface SharedOpusEncodersOptions {
  ffmpegPath: string;
  log: Logger;
  /** Audio ffmpeg has not taken yet, at most, per file (bytes of mono s16le). */
  maxPendingBytesPerFile: number;
  finishTimeoutMs?: number | undefined;
}

/** One file of a shared encoder, as PartedOutput sees it. */
class SharedFile implements FilePart {
  readonly path: string;
  readonly leadChunks: number;
  /** The encoder's chunk this file starts at (its channel before it is trimmed away). */
  readonly joinedAt: number;
  readonly #encoder: SharedEncoder;
  /** This tick's chunk, until the encoder's tick ends. */
  chunk: Int16Array | undefined;
  written = false;
  dropped = 0;

  constructor(encoder: SharedEncoder, path: string, leadChunks: number, joinedAt: number) {
    this.#encoder = encoder;
    this.path = path;
    this.leadChunks = leadChunks;
    this.joinedAt = joinedAt;
  }

  get exited(): Promise<void> {
    return this.#encoder.exited;
  }

  write(chunk: Int16Array): void {
    if (this.written) throw new Error(`${this.path} was given two chunks in one tick`);
    this.written = true;
    this.chunk = chunk;
  }

  finish(): Promise<OpusFileResult> {
    return this.#encoder.finish().then((error) => {
      const chunks = this.#encoder.ticks - this.joinedAt - this.dropped;
      return {
        path: this.path,
        durationMs: (this.leadChunks + chunks) * CHUNK_MS,
        ...(this.dropped > 0 ? { droppedMs: this.dropped * CHUNK_MS } : {}),
        ...(this.leadChunks > 0 ? { leadMs: this.leadChunks * CHUNK_MS } : {}),
        ...(error ? { error } : {}),
      };
    });
  }
}

/** One ffmpeg and its files, in channel order. */
class SharedEncoder {
  readonly files: SharedFile[] = [];
  /** Chunks (ticks) this encoder has seen end. */
  ticks = 0;
  readonly #opts: SharedOpusEncodersOptions;
  readonly #log: Logger;
  /** Each ended tick's chunks (one per file, undefined: silence), not yet written. */
  #pending: Array<Array<Int16Array | undefined>> = [];
  #ffmpeg: FfmpegProcess | undefined;
  #writer: BoundedWriter | undefined;
  #finished: Promise<string | undefined> | undefined;
  #exited = false;
  readonly exited: Promise<void>;
  #follow!: (ffmpeg: FfmpegProcess) => void;
  #failStart!: (err: Error) => void;

  constructor(opts: SharedOpusEncodersOptions, log: Logger) {
    this.#opts = opts;
    this.#log = log;
    this.exited = new Promise<void>((resolve, reject) => {
      this.#follow = (ffmpeg) => ffmpeg.exited.then(resolve, reject);
      this.#failStart = reject;
    });
    // Observed by each file's PartedOutput; here it only stops the ticks.
    this.exited.then(
      () => (this.#exited = true),
      () => (this.#exited = true),
    );
  }

  get started(): boolean {
    return this.#ffmpeg !== undefined;
  }

  get done(): boolean {
    return this.#finished !== undefined || this.#exited;
  }

  add(path: string, leadChunks: number): SharedFile {
    const file = new SharedFile(this, path, leadChunks, this.ticks);
    this.files.push(file);
    return file;
  }

  /** The end of one tick: every file's chunk of it is taken (silence for a file given none). */
  endTick(): void {
    this.#pending.push(this.files.map((f) => {
      const chunk = f.chunk;
      f.chunk = undefined;
      f.written = false;
      return chunk;
    }));
    this.ticks++;
    if (this.started && this.#pending.length >= BATCH_CHUNKS) this.#flush();
  }

  /** Starts ffmpeg with the files it has now and writes what waited for it. */
  start(): void {
    if (this.started) return;
    const outputs: OpusChannelOutput[] = this.files.map((f) => ({ path: f.path, trimChunks: f.joinedAt, leadMs: f.leadChunks * CHUNK_MS }));
    try {
      this.#ffmpeg = startFfmpeg(opusFilesArgs(outputs), this.#log, this.#opts.ffmpegPath);
    } catch (err) {
      this.#failStart(err as Error);
      throw err;
    }
    this.#follow(this.#ffmpeg);
    this.#writer = new BoundedWriter({ ffmpeg: this.#ffmpeg, maxPendingBytes: this.#opts.maxPendingBytesPerFile * this.files.length, log: this.#log });
    this.#log.debug({ files: this.files.length }, 'one ffmpeg for these audio files');
    this.#flush();
  }

  /** Interleaves the pending ticks (a channel per file) into one write. */
  #flush(): void {
    const ticks = this.#pending;
    if (ticks.length === 0) return;
    this.#pending = [];
    const channels = this.files.length;
    const out = new Int16Array(ticks.length * CHUNK_SAMPLES * channels);
    for (const [t, chunks] of ticks.entries()) {
      const base = t * CHUNK_SAMPLES * channels;
      for (let c = 0; c < channels; c++) {
        const chunk = chunks[c];
        if (!chunk) continue; // silence: the buffer starts zeroed
        for (let s = 0, at = base + c; s < CHUNK_SAMPLES; s++, at += channels) out[at] = chunk[s]!;
      }
    }
    if (!this.#writer!.write(new Uint8Array(out.buffer))) {
      if (this.#writer!.error) return;
      // Dropped whole (ffmpeg that far behind): each file is that much shorter.
      for (const f of this.files) f.dropped += ticks.filter((_, t) => t + this.ticks - ticks.length >= f.joinedAt).length;
      framesDropped('recording_audio', ticks.length * channels);
    }
  }

  /** Writes what is left, ends the input and waits for ffmpeg; resolves to its error, if any. Once for all files. */
  finish(): Promise<string | undefined> {
    this.#finished ??= (async () => {
      try {
        this.start();
      } catch (err) {
        return (err as Error).message;
      }
      this.#flush();
      let error: string | undefined;
      await this.#ffmpeg!.finish(this.#writer!.drained(), this.#opts.finishTimeoutMs).catch((err: unknown) => {
        error = (err as Error).message;
      });
      // How ffmpeg ended says more than the write it broke (EPIPE), so it comes first.
      return error ?? this.#writer!.error;
    })();
    return this.#finished;
  }
}

/** The encoders of one recording's audio files. */
export class SharedOpusEncoders {
  readonly #opts: SharedOpusEncodersOptions;
  readonly #log: Logger;
  readonly #encoders: SharedEncoder[] = [];
  /** The encoder taking new files, until FORMING_CHUNKS after its first. */
  #forming: SharedEncoder | undefined;

  constructor(opts: SharedOpusEncodersOptions) {
    this.#opts = opts;
    this.#log = opts.log;
  }

  /** A file whose first `leadChunks` chunks are silence made by ffmpeg, then what is written to it from this tick on. */
  open(path: string, leadChunks: number): FilePart & { finish(): Promise<OpusFileResult> } {
    if (!this.#forming || this.#forming.files.length >= MAX_FILES_PER_ENCODER) {
      this.#forming?.start();
      this.#forming = new SharedEncoder(this.#opts, this.#log);
      this.#encoders.push(this.#forming);
    }
    return this.#forming.add(path, leadChunks);
  }

  /** After each tick's writes: every encoder takes the tick; one whose window closed starts. */
  endTick(): void {
    for (const encoder of this.#encoders) encoder.endTick();
    if (this.#forming && this.#forming.ticks >= FORMING_CHUNKS) {
      const forming = this.#forming;
      this.#forming = undefined;
      forming.start();
    }
    // An encoder that died or finished takes no more ticks (its files went on elsewhere).
    for (let i = this.#encoders.length - 1; i >= 0; i--) if (this.#encoders[i]!.done) this.#encoders.splice(i, 1);
  }
}
