// Writes into one ffmpeg input pipe in order, holding at most `maxPendingBytes` that ffmpeg has
// not taken yet. An ffmpeg that stops reading (a slow or full disk, a stuck child) would
// otherwise make the recording hold every later chunk in memory until the process dies; beyond
// the bound, chunks are dropped and counted, and the first drop of a run is logged.
import type { Logger } from '../../observability/logger.ts';
import type { FfmpegProcess } from './process.ts';
import { freeNow } from '../video/young-garbage.ts';

/** How long after ffmpeg took its first chunk the start's larger bound may last at most. */
export const STARTUP_DRAIN_MS = 5_000;

/** Copies kept for reuse once the pipe has taken them: one is in flight at a time while ffmpeg keeps up. */
const SPARE_COPIES = 2;

export class BoundedWriter {
  readonly #ffmpeg: FfmpegProcess;
  readonly #input: number;
  readonly #maxPendingBytes: number;
  readonly #log: Logger;
  readonly #onDrop: (count: number) => void;
  readonly #copy: boolean;
  readonly #startMaxPendingBytes: number;
  /** ffmpeg has started reading and worked off what queued meanwhile (or had STARTUP_DRAIN_MS to): from then on the bound is maxPendingBytes. */
  #warm: boolean;
  #firstTakenAt: number | undefined;
  /** Copies the pipe has taken, kept for the next ones (copy mode). */
  readonly #spares: Uint8Array[] = [];
  #queue: Promise<void> = Promise.resolve();
  /** The chunk queued last, until the pipe takes it (in copy mode, this writer's copy). */
  #newest: Uint8Array | undefined;
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
   * each chunk is copied when queued; once the pipe has taken it, the copy serves again (a few are
   * kept) or is freed.
   * `startMaxPendingBytes`: the bound while ffmpeg starts. On a busy machine x264 can take over
   * a second to start taking 720p pictures (measured: the composite's queue full at its 1 s bound
   * from 1.4 to 1.8 s into a 9-camera recording, 19 pictures refused), and what queued then is
   * about to drain; refusing at the usual bound would cut pictures out of that backlog.
   */
  constructor(opts: { ffmpeg: FfmpegProcess; input?: number; maxPendingBytes: number; startMaxPendingBytes?: number; log: Logger; onDrop?: (count: number) => void; copy?: boolean }) {
    this.#ffmpeg = opts.ffmpeg;
    this.#input = opts.input ?? 0;
    this.#maxPendingBytes = opts.maxPendingBytes;
    this.#log = opts.log;
    this.#onDrop = opts.onDrop ?? (() => undefined);
    this.#copy = opts.copy ?? false;
    this.#startMaxPendingBytes = Math.max(opts.maxPendingBytes, opts.startMaxPendingBytes ?? 0);
    this.#warm = this.#startMaxPendingBytes === opts.maxPendingBytes;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Whether `byteLength` more bytes would be taken now (within the bound, the output not failed). */
  fits(byteLength: number): boolean {
    const bound = this.#warm ? this.#maxPendingBytes : this.#startMaxPendingBytes;
    return !this.error && (this.#pendingBytes === 0 || this.#pendingBytes + byteLength <= bound);
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

  /** The chunk queued last while it still waits for the pipe (valid until then; in copy mode not the caller's buffer). */
  newestPending(): Uint8Array | undefined {
    return this.#newest;
  }

  #enqueue(given: Uint8Array): void {
    const bytes = this.#copy ? this.#copyOf(given) : given;
    this.#newest = bytes;
    const taken = () => {
      if (this.#newest === bytes) this.#newest = undefined;
      if (this.#copy) this.#release(bytes);
    };
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
        this.#warmUp();
      }
    });
  }

  /**
   * A copy in a buffer the pipe is done with, or a new one. A fresh 1.38 MB buffer costs ~0.4 ms
   * to allocate and fill (its pages are new to the process), a copy into one in use ~0.09 ms.
   */
  #copyOf(given: Uint8Array): Uint8Array {
    const index = this.#spares.findIndex((spare) => spare.byteLength === given.byteLength);
    const bytes = index < 0 ? new Uint8Array(given.byteLength) : this.#spares.splice(index, 1)[0]!;
    bytes.set(given);
    return bytes;
  }

  /** The pipe has taken `bytes`: kept for the next copy, or freed now beyond SPARE_COPIES. */
  #release(bytes: Uint8Array): void {
    if (this.#spares.length < SPARE_COPIES) this.#spares.push(bytes);
    else freeNow(bytes);
  }

  #warmUp(): void {
    if (this.#warm) return;
    this.#firstTakenAt ??= Date.now();
    this.#warm = this.#pendingBytes <= this.#maxPendingBytes || Date.now() - this.#firstTakenAt > STARTUP_DRAIN_MS;
  }

  /** Resolves once everything accepted so far was handed to ffmpeg (or the output failed). */
  drained(): Promise<void> {
    return this.#queue;
  }
}
