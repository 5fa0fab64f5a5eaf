// A live HLS stream also lands in the storage sink, so that a web server or CDN serving the
// archive serves the stream too: while the stream runs, finished segments are copied first and
// the playlist after them (a player never sees a playlist naming a segment that is not there yet).
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { SessionFacts, StorageSink } from '../../delivery/storage-sink.ts';
import type { Logger } from '../../observability/logger.ts';

const PLAYLIST = 'index.m3u8';

export class HlsMirror {
  readonly #directory: string;
  readonly #sink: StorageSink;
  readonly #facts: SessionFacts;
  readonly #log: Logger;
  readonly #copied = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(opts: { directory: string; sink: StorageSink; facts: SessionFacts; log: Logger }) {
    this.#directory = opts.directory;
    this.#sink = opts.sink;
    this.#facts = opts.facts;
    this.#log = opts.log.child({ module: 'hls-mirror' });
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.sync(), intervalMs);
  }

  /** Copies what changed since the last pass; passes never overlap. */
  sync(): Promise<void> {
    this.#running = this.#running.then(() => this.#pass()).catch((err: unknown) => this.#log.warn({ err }, 'could not copy the HLS stream to the storage sink'));
    return this.#running;
  }

  async #pass(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.#directory);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // ffmpeg has not created it yet
      throw err;
    }
    const changed = names.filter((name) => {
      if (name !== PLAYLIST && !name.endsWith('.ts')) return false; // temp files of ffmpeg's temp_file flag
      const mtime = statSync(join(this.#directory, name), { throwIfNoEntry: false })?.mtimeMs;
      return mtime !== undefined && this.#copied.get(name) !== mtime;
    });
    const segments = changed.filter((n) => n !== PLAYLIST).map((n) => join(this.#directory, n));
    const ordered = changed.includes(PLAYLIST) ? [...segments, join(this.#directory, PLAYLIST)] : segments;
    if (ordered.length === 0) return;
    await this.#sink.store(ordered.map((path) => ({ path, name: basename(path) })), this.#facts);
    for (const path of ordered) this.#copied.set(path.slice(this.#directory.length + 1), statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0);
  }

  /** A last pass, then stops. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.sync();
  }
}
