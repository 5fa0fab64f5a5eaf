// One audio file per received track, encoded by ffmpeg as the frames arrive.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AudioFrame } from '@livekit/rtc-node';
import type { Logger } from '../../observability/logger.ts';
import { opusFileArgs } from '../ffmpeg/audio-args.ts';
import { startFfmpeg } from '../ffmpeg/process.ts';

export interface StemTrack {
  /** Safe file-name stem chosen by the caller, e.g. from the member's user ID and device. */
  label: string;
  frames: AsyncIterable<AudioFrame>;
}

export interface StemFile {
  label: string;
  path: string;
  frames: number;
  firstFrameAt?: number;
  error?: string;
}

/** Replaces anything outside a conservative file-name alphabet. */
export function safeFileLabel(text: string): string {
  return text.replace(/[^A-Za-z0-9@._=+-]/g, '_').slice(0, 120);
}

export class StemRecorder {
  readonly #dir: string;
  readonly #ffmpegPath: string;
  readonly #log: Logger;
  readonly #pumps: Promise<StemFile>[] = [];
  readonly #onFirstFrame: (file: StemFile) => void;

  constructor(dir: string, opts: { ffmpegPath: string; log: Logger; onFirstFrame?: (file: StemFile) => void }) {
    mkdirSync(dir, { recursive: true });
    this.#dir = dir;
    this.#ffmpegPath = opts.ffmpegPath;
    this.#log = opts.log.child({ module: 'stems' });
    this.#onFirstFrame = opts.onFirstFrame ?? (() => undefined);
  }

  add(track: StemTrack): void {
    this.#pumps.push(this.#pump(track));
  }

  /** Waits until every track has ended and its file is finished. */
  async finish(): Promise<StemFile[]> {
    return Promise.all(this.#pumps);
  }

  async #pump(track: StemTrack): Promise<StemFile> {
    const n = this.#pumps.length;
    const file: StemFile = { label: track.label, path: join(this.#dir, `${String(n).padStart(2, '0')}-${safeFileLabel(track.label)}.ogg`), frames: 0 };
    const log = this.#log.child({ stem: file.path });
    let ffmpeg: ReturnType<typeof startFfmpeg> | undefined;
    try {
      for await (const frame of track.frames) {
        if (!ffmpeg) {
          ffmpeg = startFfmpeg(opusFileArgs({ sampleRate: frame.sampleRate, channels: frame.channels }, file.path), log, this.#ffmpegPath);
          file.firstFrameAt = Date.now();
          this.#onFirstFrame(file);
        }
        await ffmpeg.write(new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength));
        file.frames++;
      }
      await ffmpeg?.finish();
      log.info({ frames: file.frames }, 'stem finished');
    } catch (err) {
      file.error = (err as Error).message;
      log.error({ err }, 'stem failed');
      await ffmpeg?.finish().catch(() => undefined);
    }
    return file;
  }
}
