// The one place that spawns ffmpeg. Frames go in through pipes (never temporary raw files):
// stdin is `pipe:0`, further inputs are `pipe:3`, `pipe:4`, ...; stderr is kept (last lines) so a
// crash is reported with ffmpeg's own words.
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { MediaError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { ffmpegFailed } from '../../observability/metrics.ts';

export interface FfmpegProcess {
  /**
   * Writes raw bytes to an input pipe (0: stdin), waiting when the pipe is full. `taken` is called
   * once the pipe has taken these very bytes (or failed): until then they must not change.
   */
  write(chunk: Uint8Array, input?: number, taken?: () => void): Promise<void>;
  /**
   * Waits for `before` (the last queued writes), ends every input pipe and waits for ffmpeg to
   * finish the file. A child that has not exited `timeoutMs` after this call is killed (SIGKILL)
   * and the returned promise rejects saying so: finishing never waits on a stuck ffmpeg.
   */
  finish(before?: Promise<void>, timeoutMs?: number): Promise<void>;
  /** Resolves or rejects when ffmpeg exits. */
  readonly exited: Promise<void>;
}

/** The ffmpeg input URL of input pipe `n` (0 is stdin; fds 1 and 2 are ffmpeg's own output). */
export const inputPipe = (n: number) => (n === 0 ? 'pipe:0' : `pipe:${n + 2}`);

/** How long ffmpeg gets to take its last input and close its file (Ogg and Matroska need well under a second). */
export const FINISH_TIMEOUT_MS = 15_000;

export function startFfmpeg(args: string[], log: Logger, ffmpegPath = 'ffmpeg', inputs = 1): FfmpegProcess {
  const child = spawn(ffmpegPath, ['-hide_banner', '-loglevel', 'warning', '-nostdin', ...args], {
    stdio: ['pipe', 'pipe', 'pipe', ...Array.from({ length: inputs - 1 }, () => 'pipe' as const)],
  });
  const pipes = [child.stdin!, ...child.stdio.slice(3).map((s) => s as Writable)];
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) stderr.push(line.trim());
    if (stderr.length > 20) stderr.splice(0, stderr.length - 20);
  });
  child.stdout!.resume();
  let inputsClosed = false;
  let killedAfterMs: number | undefined;
  for (const pipe of pipes) {
    pipe.on('error', (err) => {
      inputsClosed = true;
      log.debug({ err: err.message }, 'ffmpeg input pipe closed');
    });
  }
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new MediaError(`ffmpeg could not start: ${err.message}`, null, null, { cause: err })));
    child.once('exit', (code, signal) => {
      inputsClosed = true;
      if (code === 0) return resolve();
      ffmpegFailed();
      const how = killedAfterMs !== undefined ? `was killed: it had not finished ${killedAfterMs} ms after its input ended` : `exited with ${signal ?? `code ${code}`}`;
      reject(new MediaError(`ffmpeg ${how}: ${stderr.slice(-3).join(' | ') || '(no output)'}`, code, signal));
    });
  });
  exited.catch(() => undefined); // observed through `exited`/`finish`; avoid an unhandled rejection meanwhile

  return {
    exited,
    async write(chunk, input = 0, taken) {
      if (inputsClosed) throw new MediaError(`ffmpeg is no longer running: ${stderr.slice(-3).join(' | ')}`, child.exitCode, child.signalCode);
      const pipe = pipes[input]!;
      if (!pipe.write(chunk, taken)) await Promise.race([once(pipe, 'drain'), exited]);
    },
    async finish(before = Promise.resolve(), timeoutMs = FINISH_TIMEOUT_MS) {
      const timer = setTimeout(() => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        killedAfterMs = timeoutMs;
        log.error({ pid: child.pid, timeoutMs }, 'ffmpeg did not finish in time; killing it');
        child.kill('SIGKILL');
      }, timeoutMs);
      try {
        // A write waiting on a stuck pipe ends when the kill makes `exited` settle.
        await Promise.race([before, exited.catch(() => undefined)]);
        if (!inputsClosed) for (const pipe of pipes) pipe.end();
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
