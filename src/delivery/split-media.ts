// Cuts a recording that is over the homeserver's upload limit into parts that each play on their
// own: ffmpeg's segment muxer with stream copy (no re-encoding, so nothing is lost and it is
// fast), every part starting at time zero. Cuts fall on packets (audio) or keyframes (video), so
// a part's size is only estimated from the bitrate; a part still over the limit makes the cut
// finer, and a file that cannot be cut small enough is an error naming the sizes.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { promisify } from 'node:util';
import { formatBytes } from '../format.ts';

const run = promisify(execFile);

export interface MediaPart {
  path: string;
  bytes: number;
  durationMs: number;
}

export interface SplitMedia {
  parts: MediaPart[];
  /** Removes the parts' folder. */
  dispose(): Promise<void>;
}

const FORMATS: Record<string, string> = { '.ogg': 'ogg', '.mkv': 'matroska' };
/** Cuts are estimated from the average bitrate; this margin keeps most parts under the limit at the first try. */
const MARGIN = 0.85;
const ATTEMPTS = 4;

export function canSplit(path: string): boolean {
  return extname(path) in FORMATS;
}

export async function splitMedia(path: string, opts: { limitBytes: number; ffmpegPath: string }): Promise<SplitMedia> {
  const format = FORMATS[extname(path)];
  if (!format) throw new Error(`${basename(path)} is not a media file that can be cut into parts`);
  const { size } = await stat(path);
  const durationMs = await mediaDurationMs(path, opts.ffmpegPath);
  if (durationMs <= 0) throw new Error(`${basename(path)} has no length to cut`);
  const dir = await mkdtemp(join(tmpdir(), 'mrr-parts-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const total = durationMs / 1000;
    let seconds = total * (opts.limitBytes / size) * MARGIN;
    // Parts under a second would be a flood of messages, not a recording: a limit that small is an error.
    for (let attempt = 1; attempt <= ATTEMPTS && seconds >= 1; attempt++) {
      const parts = await cut(path, dir, format, evenLength(total, seconds), opts.ffmpegPath);
      const largest = Math.max(...parts.map((p) => p.bytes));
      if (largest <= opts.limitBytes) return { parts, dispose };
      seconds *= (opts.limitBytes / largest) * MARGIN;
    }
    throw new Error(`${basename(path)} (${formatBytes(size)}) could not be cut into parts of at least a second under ${formatBytes(opts.limitBytes)}`);
  } catch (err) {
    await dispose();
    throw err;
  }
}

/**
 * The length that cuts `total` seconds into equal parts of at most about `longest`: cutting at
 * `longest` would leave a last part of any length, down to a fraction of a second (a message that
 * plays a click). A tenth of a second over the even length, so that cuts landing on the packet
 * after it do not start one more, tiny, part.
 */
export function evenLength(total: number, longest: number): number {
  const count = Math.max(1, Math.ceil(total / longest));
  return total / count + 0.1;
}

async function cut(path: string, dir: string, format: string, seconds: number, ffmpegPath: string): Promise<MediaPart[]> {
  for (const name of await readdir(dir)) await rm(join(dir, name));
  const ext = extname(path);
  const stem = basename(path, ext);
  await run(ffmpegPath, [
    '-v', 'error', '-nostdin', '-i', path,
    '-map', '0', '-c', 'copy', '-map_chapters', '-1',
    '-f', 'segment', '-segment_time', seconds.toFixed(3), '-segment_format', format, '-reset_timestamps', '1',
    join(dir, `${stem}.part%03d${ext}`),
  ]);
  const names = (await readdir(dir)).sort();
  const parts: MediaPart[] = [];
  for (const [i, name] of names.entries()) {
    // Named for the room: "mixed.part-2-of-3.ogg".
    const target = join(dir, `${stem}.part-${i + 1}-of-${names.length}${ext}`);
    await rename(join(dir, name), target);
    parts.push({ path: target, bytes: (await stat(target)).size, durationMs: await mediaDurationMs(target, ffmpegPath) });
  }
  return parts;
}

/** The container's duration as ffmpeg reads it (ffmpeg without an output exits 1 after printing it). */
export async function mediaDurationMs(path: string, ffmpegPath: string): Promise<number> {
  const stderr = await run(ffmpegPath, ['-hide_banner', '-nostdin', '-i', path]).then(
    (r) => r.stderr,
    (err: { stderr?: string }) => err.stderr ?? '',
  );
  const match = /Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(stderr);
  if (!match) throw new Error(`ffmpeg reads no duration from ${basename(path)}`);
  return Math.round((Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3])) * 1000);
}
