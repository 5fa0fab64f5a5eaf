// The one place that spawns ffmpeg. Frames go in through stdin (never temporary raw files);
// stderr is kept (last lines) so a crash is reported with ffmpeg's own words.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { MediaError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';

export interface FfmpegProcess {
  /** Writes raw bytes to ffmpeg's stdin, waiting when the pipe is full. */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends stdin and waits for ffmpeg to finish the file. */
  finish(): Promise<void>;
  /** Resolves or rejects when ffmpeg exits. */
  readonly exited: Promise<void>;
}

export function startFfmpeg(args: string[], log: Logger, ffmpegPath = 'ffmpeg'): FfmpegProcess {
  const child: ChildProcessWithoutNullStreams = spawn(ffmpegPath, ['-hide_banner', '-loglevel', 'warning', '-nostdin', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) stderr.push(line.trim());
    if (stderr.length > 20) stderr.splice(0, stderr.length - 20);
  });
  child.stdout.resume();
  let stdinClosed = false;
  child.stdin.on('error', (err) => {
    stdinClosed = true;
    log.debug({ err: err.message }, 'ffmpeg stdin closed');
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new MediaError(`ffmpeg could not start: ${err.message}`, null, null, { cause: err })));
    child.once('exit', (code, signal) => {
      stdinClosed = true;
      if (code === 0) return resolve();
      reject(new MediaError(`ffmpeg exited with ${signal ?? `code ${code}`}: ${stderr.slice(-3).join(' | ') || '(no output)'}`, code, signal));
    });
  });
  exited.catch(() => undefined); // observed through `exited`/`finish`; avoid an unhandled rejection meanwhile

  return {
    exited,
    async write(chunk) {
      if (stdinClosed) throw new MediaError(`ffmpeg is no longer running: ${stderr.slice(-3).join(' | ')}`, child.exitCode, child.signalCode);
      if (!child.stdin.write(chunk)) await Promise.race([once(child.stdin, 'drain'), exited]);
    },
    async finish() {
      if (!stdinClosed) child.stdin.end();
      await exited;
    },
  };
}
