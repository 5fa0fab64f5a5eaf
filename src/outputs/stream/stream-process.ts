// An ffmpeg child for live streams. Unlike the recording processes (src/media/ffmpeg/process.ts,
// which write files and are only ever finished), a stream process hands its output to us (FLV
// from the encoder, progress lines from a relay) and is killed on purpose (a stalled destination,
// a removed one). stderr lines are masked before anything keeps them: ffmpeg prints the URL it
// failed on, stream key included.
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

export interface StreamProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last stderr lines, masked. */
  stderr: string[];
}

export interface StreamProcess {
  readonly pid: number | undefined;
  /**
   * Queues bytes on input pipe `input` (0: stdin); false when the process is gone. Never waits:
   * callers bound what they queue with `pending()` (live media is dropped, not held back).
   * `taken` is called once the pipe has taken these very bytes (or failed).
   */
  write(chunk: Uint8Array, input?: number, taken?: () => void): boolean;
  /** Bytes written to an input pipe that it has not taken yet. */
  pending(input?: number): number;
  /** Ends the input pipes (ffmpeg then flushes and exits). */
  end(): void;
  kill(signal?: NodeJS.Signals): void;
  readonly exited: Promise<StreamProcessExit>;
}

export interface StreamProcessOptions {
  ffmpegPath: string;
  args: string[];
  inputs?: number;
  onStdout?: (chunk: Buffer) => void;
  /** Applied to every stderr line before it is kept or handed on. */
  mask: (line: string) => string;
  onStderrLine?: (line: string) => void;
}

/** How many stderr lines are kept for an exit report. */
const STDERR_LINES = 30;

export function startStreamProcess(opts: StreamProcessOptions): StreamProcess {
  const inputs = opts.inputs ?? 1;
  const child = spawn(opts.ffmpegPath, ['-hide_banner', '-loglevel', 'warning', '-nostdin', ...opts.args], {
    stdio: ['pipe', 'pipe', 'pipe', ...Array.from({ length: inputs - 1 }, () => 'pipe' as const)],
  });
  const pipes = [child.stdin!, ...child.stdio.slice(3).map((s) => s as Writable)];
  const stderr: string[] = [];
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    const lines = (partial + text).split(/\r?\n|\r/);
    partial = lines.pop() ?? '';
    for (const raw of lines) {
      if (!raw.trim()) continue;
      const line = opts.mask(raw.trim());
      stderr.push(line);
      opts.onStderrLine?.(line);
    }
    if (stderr.length > STDERR_LINES) stderr.splice(0, stderr.length - STDERR_LINES);
  });
  if (opts.onStdout) child.stdout!.on('data', opts.onStdout);
  else child.stdout!.resume();
  let gone = false;
  // EPIPE once ffmpeg has exited is expected; the exit itself is what gets reported.
  for (const pipe of pipes) pipe.on('error', () => (gone = true));
  const exited = new Promise<StreamProcessExit>((resolve) => {
    child.once('error', (err) => {
      gone = true;
      resolve({ code: null, signal: null, stderr: [opts.mask(`could not start ffmpeg: ${err.message}`)] });
    });
    child.once('close', (code, signal) => {
      gone = true;
      if (partial.trim()) stderr.push(opts.mask(partial.trim()));
      resolve({ code, signal, stderr: [...stderr] });
    });
  });

  return {
    pid: child.pid,
    exited,
    write(chunk, input = 0, taken) {
      const pipe = pipes[input]!;
      if (gone || pipe.destroyed || pipe.writableEnded) return false;
      pipe.write(chunk, taken);
      return true;
    },
    pending: (input = 0) => pipes[input]!.writableLength,
    end() {
      for (const pipe of pipes) if (!pipe.writableEnded) pipe.end();
    },
    kill(signal = 'SIGKILL') {
      if (!gone) child.kill(signal);
    },
  };
}

/** Parses ffmpeg `-progress` output (key=value lines, a block ends with `progress=…`). */
export class ProgressParser {
  #partial = '';
  #block: Record<string, string> = {};

  /** Returns the blocks completed by this chunk. */
  push(chunk: string): Array<Record<string, string>> {
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    const blocks: Array<Record<string, string>> = [];
    for (const line of lines) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq).trim();
      this.#block[key] = line.slice(eq + 1).trim();
      if (key === 'progress') {
        blocks.push(this.#block);
        this.#block = {};
      }
    }
    return blocks;
  }
}
