// Writes into one ffmpeg input pipe in order, holding at most `maxPendingBytes` that ffmpeg has
// not taken yet. An ffmpeg that stops reading (a slow or full disk, a stuck child) would
// otherwise make the recording hold every later chunk in memory until the process dies; beyond
// the bound, chunks are dropped and counted, and the first drop of a run is logged.
import type { Logger } from '../../observability/logger.ts';
import type { FfmpegProcess } from './process.ts';
import { freeNow } from '../video/young-garbage.ts';

export class BoundedWriter {
  readonly #ffmpeg: FfmpegProcess;
  readonly #input: number;
  readonly #maxPendingBytes: number;
  readonly #log: Logger;
  readonly #onDrop: (count: number) => void;
  readonly #copy: boolean;
  #queue: Promise<void> = Promise.resolve();
  #pendingBytes = 0;
  #dropping = false;
  /** Chunks handed to ffmpeg (or waiting for it, within the bound). */
  accepted = 0;
  /** Chunks dropped because ffmpeg was that far behind. */
  dropped = 0;
  /** The first write error; later writes are skipped. */
  error: string | undefined;

  /**
   * `copy`: what is written is valid only until the caller's next frame (the call's picture), so
   * each chunk is copied when queued and the copy freed as soon as the pipe has taken it.
   */
  constructor(opts: { ffmpeg: FfmpegProcess; input?: number; maxPendingBytes: number; log: Logger; onDrop?: (count: number) => void; copy?: boolean }) {
    this.#ffmpeg = opts.ffmpeg;
    this.#input = opts.input ?? 0;
    this.#maxPendingBytes = opts.maxPendingBytes;
    this.#log = opts.log;
    this.#onDrop = opts.onDrop ?? (() => undefined);
    this.#copy = opts.copy ?? false;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Whether `byteLength` more bytes would be taken now (within the bound, the output not failed). */
  fits(byteLength: number): boolean {
    return !this.error && (this.#pendingBytes === 0 || this.#pendingBytes + byteLength <= this.#maxPendingBytes);
  }

  /** Queues `bytes`; returns false when they were dropped (over the bound) or the output already failed. */
  write(bytes: Uint8Array): boolean {
    if (this.error) return false;
    if (!this.fits(bytes.byteLength)) {
      this.dropped++;
      this.#onDrop(1);
      if (!this.#dropping) this.#log.warn({ pendingBytes: this.#pendingBytes, maxPendingBytes: this.#maxPendingBytes }, 'ffmpeg is not keeping up; dropping media until it catches up');
      this.#dropping = true;
      return false;
    }
    if (this.#dropping) this.#log.info({ droppedSoFar: this.dropped }, 'ffmpeg caught up; writing again');
    this.#dropping = false;
    this.#enqueue(bytes);
    return true;
  }

  #enqueue(given: Uint8Array): void {
    const bytes = this.#copy ? given.slice() : given;
    const taken = this.#copy ? () => freeNow(bytes) : undefined;
    // Its length now: a copy reads as empty once freed.
    const length = bytes.byteLength;
    this.accepted++;
    this.#pendingBytes += length;
    this.#queue = this.#queue.then(async () => {
      try {
        if (!this.error) await this.#ffmpeg.write(bytes, this.#input, taken);
      } catch (err) {
        this.error = (err as Error).message;
        this.#log.error({ err }, 'an ffmpeg output failed; the other outputs go on');
      } finally {
        this.#pendingBytes -= length;
      }
    });
  }

  /** Resolves once everything accepted so far was handed to ffmpeg (or the output failed). */
  drained(): Promise<void> {
    return this.#queue;
  }
}
