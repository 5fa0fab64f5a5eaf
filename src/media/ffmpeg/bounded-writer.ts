// Writes into one ffmpeg input pipe in order, holding at most `maxPendingBytes` that ffmpeg has
// not taken yet. An ffmpeg that stops reading (a slow or full disk, a stuck child) would
// otherwise make the recording hold every later chunk in memory until the process dies; beyond
// the bound, chunks are dropped and counted, and the first drop of a run is logged.
import type { Logger } from '../../observability/logger.ts';
import type { FfmpegProcess } from './process.ts';

export class BoundedWriter {
  readonly #ffmpeg: FfmpegProcess;
  readonly #input: number;
  readonly #maxPendingBytes: number;
  readonly #log: Logger;
  readonly #onDrop: (count: number) => void;
  #queue: Promise<void> = Promise.resolve();
  #pendingBytes = 0;
  #dropping = false;
  /** Chunks handed to ffmpeg (or waiting for it, within the bound). */
  accepted = 0;
  /** Chunks dropped because ffmpeg was that far behind. */
  dropped = 0;
  /** The first write error; later writes are skipped. */
  error: string | undefined;

  constructor(opts: { ffmpeg: FfmpegProcess; input?: number; maxPendingBytes: number; log: Logger; onDrop?: (count: number) => void }) {
    this.#ffmpeg = opts.ffmpeg;
    this.#input = opts.input ?? 0;
    this.#maxPendingBytes = opts.maxPendingBytes;
    this.#log = opts.log;
    this.#onDrop = opts.onDrop ?? (() => undefined);
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

  /**
   * Queues bytes that were queued before (a picture shown again), beyond the bound: they hold no
   * memory of their own. For a last few at the end; while media flows, `write` keeps the bound.
   */
  repeat(bytes: Uint8Array): void {
    if (!this.error) this.#enqueue(bytes);
  }

  #enqueue(bytes: Uint8Array): void {
    this.accepted++;
    this.#pendingBytes += bytes.byteLength;
    this.#queue = this.#queue.then(async () => {
      try {
        if (!this.error) await this.#ffmpeg.write(bytes, this.#input);
      } catch (err) {
        this.error = (err as Error).message;
        this.#log.error({ err }, 'an ffmpeg output failed; the other outputs go on');
      } finally {
        this.#pendingBytes -= bytes.byteLength;
      }
    });
  }

  /** Resolves once everything accepted so far was handed to ffmpeg (or the output failed). */
  drained(): Promise<void> {
    return this.#queue;
  }
}
