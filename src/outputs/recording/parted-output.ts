// One audio file of a recording that survives its ffmpeg: when the encoder dies mid-recording
// (killed, crashed), the file is closed where it stopped (Ogg pages are flushed every second, so
// it plays up to there) and the recording goes on in a new part beside it, `<name>-part2.ogg`,
// placed on the recording's time axis by its offset. The other files never notice. A disk that
// is full is not retried: the part is given up and said so, since a new ffmpeg would fail too.
import { statfsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { oggOpusDurationMs } from '../../media/recording/ogg-duration.ts';
import type { Logger } from '../../observability/logger.ts';
import { CHUNK_MS } from '../../media/recording/audio-timeline.ts';

/** A continuation of a file after its ffmpeg died: where it starts on the recording's time axis. */
export interface AudioPart {
  path: string;
  /** Offset of the part's first chunk from the recording's start (the segment's time zero), in ms. */
  offsetMs: number;
  durationMs: number;
  error?: string;
}

/** What one ffmpeg-backed file needs to offer (audio-files' OpusOutput). */
export interface FilePart {
  readonly path: string;
  write(chunk: Int16Array): void;
  finish(): Promise<{ path: string; durationMs: number; error?: string }>;
  /** Settles when the encoder exits, for whatever reason. */
  readonly exited: Promise<void>;
}

export type PartEvent =
  | { type: 'continued'; file: string; part: string; offsetMs: number; reason: string }
  | { type: 'disk-full'; file: string; atMs: number }
  | { type: 'gave-up'; file: string; atMs: number; reason: string };

/** Below this much free space a dead encoder is taken for a full disk: an Ogg page is a few kB. */
export const DISK_FULL_BYTES = 256 * 1024;
/** Encoders restarted per file at most; beyond, something is wrong that a restart does not mend. */
export const MAX_PARTS = 4;

export const partPath = (first: string, n: number) => join(dirname(first), `${basename(first, '.ogg')}-part${n}.ogg`);

export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

export class PartedOutput {
  readonly path: string;
  readonly #start: (path: string, first: boolean) => FilePart;
  readonly #onEvent: (event: PartEvent) => void;
  readonly #log: Logger;
  readonly #parts: Array<{ part: FilePart; offsetChunks: number; died?: string }> = [];
  #chunks = 0;
  #finishing = false;
  #stopped: string | undefined;

  /** `startChunks`: where the file starts on the recording's time axis (a stem's lead of silence). */
  constructor(opts: { path: string; startChunks?: number; start(path: string, first: boolean): FilePart; onEvent(event: PartEvent): void; log: Logger }) {
    this.path = opts.path;
    this.#chunks = opts.startChunks ?? 0;
    this.#start = opts.start;
    this.#onEvent = opts.onEvent;
    this.#log = opts.log.child({ output: basename(opts.path) });
    this.#open(opts.path, true);
  }

  #open(path: string, first: boolean): void {
    const entry: { part: FilePart; offsetChunks: number; died?: string } = { part: this.#start(path, first), offsetChunks: this.#chunks };
    this.#parts.push(entry);
    entry.part.exited.then(
      () => this.#died(entry, 'it exited on its own'),
      (err: unknown) => this.#died(entry, (err as Error).message),
    );
  }

  #died(entry: { part: FilePart; died?: string }, reason: string): void {
    if (this.#finishing) return;
    entry.died = reason;
    const file = basename(this.path);
    const atMs = this.#chunks * CHUNK_MS;
    let free: number;
    try {
      free = freeBytes(dirname(this.path));
    } catch (err) {
      free = 0;
      this.#log.error({ err }, 'could not read the free space beside the recording');
    }
    if (free < DISK_FULL_BYTES) {
      this.#stopped = 'the disk is full';
      this.#log.error({ freeBytes: free, reason }, 'the recording disk is full; this file stops here');
      this.#onEvent({ type: 'disk-full', file, atMs });
      return;
    }
    if (this.#parts.length >= MAX_PARTS) {
      this.#stopped = `its encoder stopped ${MAX_PARTS} times (last: ${reason})`;
      this.#log.error({ reason, parts: this.#parts.length }, 'the encoder of this file keeps stopping; giving up on it');
      this.#onEvent({ type: 'gave-up', file, atMs, reason });
      return;
    }
    const next = partPath(this.path, this.#parts.length + 1);
    this.#log.warn({ reason, part: basename(next), offsetMs: atMs }, 'the encoder of this file stopped; recording on in a new part');
    this.#open(next, false);
    this.#onEvent({ type: 'continued', file, part: basename(next), offsetMs: atMs, reason });
  }

  write(chunk: Int16Array): void {
    this.#chunks++;
    if (this.#stopped) return;
    this.#parts.at(-1)!.part.write(chunk);
  }

  /**
   * ffmpeg's words name the file by its full path, and errors reach the room's summary: the
   * folder is left out. A file that failed while closing on a full disk is said to be so.
   */
  #roomSafe<T extends { error?: string }>(result: T): T {
    if (!result.error) return result;
    const dir = dirname(this.path);
    let full = false;
    try {
      full = freeBytes(dir) < DISK_FULL_BYTES;
    } catch {
      // the error below says what failed
    }
    return { ...result, error: full ? 'the disk is full (its last second may be cut)' : result.error.replaceAll(`${dir}/`, '') };
  }

  /** The first part's result, with the parts that followed it; a part whose encoder died is measured from its pages. */
  async finish(): Promise<{ path: string; durationMs: number; error?: string; parts?: AudioPart[] }> {
    this.#finishing = true;
    const results = await Promise.all(
      this.#parts.map(async ({ part, offsetChunks, died }) => {
        const result = this.#roomSafe(await part.finish());
        if (died === undefined) return { ...result, offsetMs: offsetChunks * CHUNK_MS };
        // Its length is what its pages hold, not what was sent: the last second before the death is lost.
        const durationMs = await oggOpusDurationMs(result.path).catch(() => 0);
        const { error: _exit, ...rest } = result;
        return { ...rest, durationMs, offsetMs: offsetChunks * CHUNK_MS, ...(this.#stopped && part === this.#parts.at(-1)!.part ? { error: this.#stopped } : {}) };
      }),
    );
    const [first, ...later] = results;
    const { offsetMs: _zero, ...head } = first!;
    return { ...head, ...(later.length > 0 ? { parts: later } : {}) };
  }
}
