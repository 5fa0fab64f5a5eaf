// One destination of a live stream, with its lifecycle: connecting → live → retrying(attempt) →
// … → live again, or failed(reason). It copies the stream's encoded FLV tags to the ingest through
// its own ffmpeg (no re-encode), watches that ffmpeg's progress for a stall, and reconnects with
// exponential backoff until the destination has been down for `giveUpAfterMs`. A first attempt that
// is refused or reaches nothing fails at once with a sentence: a person has to fix the destination.
// Tags that arrive while it is not connected are dropped and counted, never buffered.
import type { Logger } from '../../observability/logger.ts';
import { ffmpegRestarted, framesDropped } from '../../observability/metrics.ts';
import { maskSecrets, type Destination } from './destination.ts';
import { classifyFailure, FATAL_BEFORE_LIVE, type Failure } from './failure.ts';
import type { FlvTag } from './flv.ts';
import { relayArgs } from './stream-args.ts';
import { ProgressParser, startStreamProcess, type StreamProcess, type StreamProcessOptions } from './stream-process.ts';

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** A destination down (or never up) for this long is given up. */
  giveUpAfterMs: number;
  /** No output bytes for this long: down. Also how long a connection attempt may take. */
  stallTimeoutMs: number;
}

export type DestinationState =
  | { phase: 'connecting'; attempt: number }
  | { phase: 'live'; since: number }
  | { phase: 'retrying'; attempt: number; reason: string; nextAttemptAt: number }
  | { phase: 'failed'; reason: string }
  | { phase: 'stopped' };

/** What the room hears: `live` once, then `down` once per outage and `back` when it ends, or `failed`. */
export type StreamEvent =
  | { type: 'live'; name: string; printable: string }
  | { type: 'down'; name: string; printable: string; reason: string }
  | { type: 'back'; name: string; printable: string; downForMs: number }
  | { type: 'failed'; name: string; printable: string; reason: string; gaveUp: boolean };

export interface DestinationStatus {
  name: string;
  printable: string;
  kind: Destination['kind'];
  state: DestinationState;
  /** Output bitrate over the last few seconds while live. */
  bitrateKbps: number | undefined;
  /** Time live since the last (re)connection; 0 when not live. */
  uptimeMs: number;
  /** Time live in total. */
  liveMs: number;
  /** Connection attempts so far (the first included). */
  attempts: number;
  /** Tags and bytes dropped because the destination was not connected or could not keep up. */
  dropped: { tags: number; bytes: number };
}

/** What a relay needs from its stream: the header and codec configuration a (re)joiner starts with. */
export interface TagSource {
  /** FLV header + metadata + sequence headers, or undefined before the encoder produced them. */
  preamble(): Uint8Array[] | undefined;
}

export interface DestinationRelayOptions {
  destination: Destination;
  source: TagSource;
  policy: RetryPolicy;
  ffmpegPath: string;
  log: Logger;
  onEvent: (event: StreamEvent) => void;
  /** Seams for unit tests: the clock and the process. */
  now?: () => number;
  spawn?: (opts: StreamProcessOptions) => StreamProcess;
}

/** More queued than this (bytes not yet taken by ffmpeg) means the ingest cannot keep up: drop. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
const BITRATE_WINDOW_MS = 5_000;
const CHECK_INTERVAL_MS = 500;

export class DestinationRelay {
  readonly destination: Destination;
  readonly #opts: DestinationRelayOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #state: DestinationState = { phase: 'connecting', attempt: 1 };
  #process: StreamProcess | undefined;
  #attempts = 0;
  /** Failures since the destination was last live (or since its start): the backoff exponent. */
  #failures = 0;
  #everLive = false;
  /** When the current outage began (first failure after being live, or the first attempt). */
  #outageSince: number | undefined;
  #downAnnounced = false;
  #synced = false;
  #attemptStartedAt = 0;
  #connected = false;
  #killedFor: 'stall' | 'connect-timeout' | 'restart' | undefined;
  #lastOutput = { bytes: -1, outTimeUs: -1, at: 0 };
  #fedSinceAdvance = 0;
  #samples: Array<{ at: number; bytes: number }> = [];
  #fedBytes = 0;
  #liveMsBefore = 0;
  #dropped = { tags: 0, bytes: 0 };
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  constructor(opts: DestinationRelayOptions) {
    this.#opts = opts;
    this.destination = opts.destination;
    this.#log = opts.log.child({ module: 'stream-destination', destination: opts.destination.printable });
    this.#now = opts.now ?? Date.now;
  }

  /** The running ffmpeg's process id, if one runs. */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  get state(): DestinationState {
    return this.#state;
  }

  start(): void {
    this.#outageSince = this.#now();
    this.#checkTimer = setInterval(() => this.#check(), CHECK_INTERVAL_MS);
    this.#connect();
  }

  /** One tag of the stream's encode. Written when connected (from a keyframe on), else dropped. */
  feed(tag: FlvTag): void {
    if (tag.config) return; // part of the preamble every connection starts with
    const process = this.#process;
    if (!process || this.#state.phase === 'stopped') return this.#drop(tag);
    if (!this.#synced) {
      if (!tag.keyframe) return this.#drop(tag);
      const preamble = this.#opts.source.preamble();
      if (!preamble) return this.#drop(tag);
      for (const part of preamble) process.write(part);
      this.#synced = true;
    }
    if (process.pending() > MAX_PENDING_BYTES) {
      // Dropping inside a GOP would corrupt the picture until the next keyframe: resync there instead.
      this.#synced = false;
      return this.#drop(tag);
    }
    this.#fedBytes += tag.bytes.length;
    this.#fedSinceAdvance += tag.bytes.length;
    process.write(tag.bytes);
  }

  /** The encoder restarted: its output is a new FLV stream, so this connection starts over. */
  restart(): void {
    if (!this.#process) return;
    this.#killedFor = 'restart';
    this.#process.kill();
  }

  status(): DestinationStatus {
    const now = this.#now();
    const live = this.#state.phase === 'live' ? this.#state : undefined;
    return {
      name: this.destination.name,
      printable: this.destination.printable,
      kind: this.destination.kind,
      state: this.#state,
      bitrateKbps: live ? this.#bitrateKbps() : undefined,
      uptimeMs: live ? now - live.since : 0,
      liveMs: this.#liveMsBefore + (live ? now - live.since : 0),
      attempts: this.#attempts,
      dropped: { ...this.#dropped },
    };
  }

  /** Ends the destination: ffmpeg gets end of input (the ingest sees a clean end), then a kill. */
  stop(graceMs = 3_000): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopped = true;
      clearTimeout(this.#retryTimer);
      clearInterval(this.#checkTimer);
      this.#leaveLive();
      this.#state = { phase: 'stopped' };
      const process = this.#process;
      if (!process) return;
      process.end();
      const timer = setTimeout(() => process.kill(), graceMs);
      await process.exited;
      clearTimeout(timer);
    })();
    return this.#stopping;
  }

  #connect(): void {
    if (this.#stopped) return;
    this.#attempts++;
    this.#state = { phase: 'connecting', attempt: this.#attempts };
    this.#attemptStartedAt = this.#now();
    this.#connected = false;
    this.#synced = false;
    this.#killedFor = undefined;
    this.#lastOutput = { bytes: -1, outTimeUs: -1, at: this.#now() };
    this.#fedSinceAdvance = 0;
    this.#samples = [];
    const progress = new ProgressParser();
    const spawn = this.#opts.spawn ?? startStreamProcess;
    const mask = (line: string) => maskSecrets(line, this.destination);
    this.#log.debug({ attempt: this.#attempts }, 'stream destination connecting');
    const process = spawn({
      ffmpegPath: this.#opts.ffmpegPath,
      args: relayArgs(this.destination),
      mask,
      onStdout: (chunk) => {
        for (const block of progress.push(chunk.toString('utf8'))) this.#onProgress(block);
      },
      onStderrLine: (line) => this.#log.debug({ line }, 'ffmpeg (stream destination)'),
    });
    this.#process = process;
    void process.exited.then((exit) => {
      if (this.#process !== process) return;
      this.#process = undefined;
      if (this.#stopped) return;
      const failure = classifyFailure({
        destinationKind: this.destination.kind,
        printable: this.destination.printable,
        stderr: exit.stderr,
        wasConnected: this.#connected,
        killedFor: this.#killedFor,
        timeoutMs: this.#opts.policy.stallTimeoutMs,
      });
      this.#log.info({ exitCode: exit.code, signal: exit.signal, failure: failure.kind, stderr: exit.stderr.slice(-3) }, 'stream destination ended');
      this.#onFailure(failure);
    });
  }

  #onProgress(block: Record<string, string>): void {
    const bytes = Number(block.total_size);
    const outTimeUs = Number(block.out_time_us);
    const now = this.#now();
    const advanced =
      (Number.isFinite(bytes) && bytes > this.#lastOutput.bytes) || (Number.isFinite(outTimeUs) && outTimeUs > this.#lastOutput.outTimeUs);
    if (!advanced) return;
    this.#lastOutput = {
      bytes: Number.isFinite(bytes) ? bytes : this.#lastOutput.bytes,
      outTimeUs: Number.isFinite(outTimeUs) ? outTimeUs : this.#lastOutput.outTimeUs,
      at: now,
    };
    this.#fedSinceAdvance = 0;
    // Bytes out when ffmpeg knows them (network outputs); HLS writes files, so count what it was fed.
    this.#samples.push({ at: now, bytes: Number.isFinite(bytes) && bytes > 0 ? bytes : this.#fedBytes });
    while (this.#samples.length > 2 && now - this.#samples[0]!.at > BITRATE_WINDOW_MS) this.#samples.shift();
    if (outTimeUs > 0 && this.#state.phase === 'connecting') this.#goLive(now);
  }

  #goLive(now: number): void {
    this.#connected = true;
    this.#state = { phase: 'live', since: now };
    const { name, printable } = this.destination;
    if (!this.#everLive) {
      this.#everLive = true;
      this.#log.info({ attempt: this.#attempts }, 'stream destination live');
      this.#opts.onEvent({ type: 'live', name, printable });
    } else if (this.#downAnnounced) {
      const downForMs = now - (this.#outageSince ?? now);
      this.#log.info({ attempt: this.#attempts, downForMs }, 'stream destination back');
      this.#opts.onEvent({ type: 'back', name, printable, downForMs });
    }
    this.#outageSince = undefined;
    this.#downAnnounced = false;
    this.#failures = 0;
  }

  #leaveLive(): void {
    if (this.#state.phase === 'live') this.#liveMsBefore += this.#now() - this.#state.since;
  }

  #check(): void {
    const process = this.#process;
    if (!process || this.#killedFor) return;
    const now = this.#now();
    const { stallTimeoutMs } = this.#opts.policy;
    if (this.#state.phase === 'connecting' && now - this.#attemptStartedAt > stallTimeoutMs) {
      this.#killedFor = 'connect-timeout';
      process.kill();
    } else if (this.#state.phase === 'live' && now - this.#lastOutput.at > stallTimeoutMs && this.#fedSinceAdvance > 0) {
      this.#killedFor = 'stall';
      process.kill();
    }
  }

  #onFailure(failure: Failure): void {
    const now = this.#now();
    const { name, printable } = this.destination;
    const wasLive = this.#state.phase === 'live';
    this.#leaveLive();
    if (!this.#everLive && this.#attempts === 1 && FATAL_BEFORE_LIVE.has(failure.kind)) {
      return this.#fail(failure.sentence, false);
    }
    if (wasLive) {
      this.#outageSince = now;
      this.#attempts = 0;
    }
    this.#failures++;
    if (this.#everLive && !this.#downAnnounced) {
      this.#downAnnounced = true;
      this.#log.warn({ reason: failure.sentence }, 'stream destination down; reconnecting');
      this.#opts.onEvent({ type: 'down', name, printable, reason: failure.sentence });
    }
    const downFor = now - (this.#outageSince ?? now);
    const { giveUpAfterMs, initialDelayMs, maxDelayMs } = this.#opts.policy;
    if (downFor >= giveUpAfterMs) {
      return this.#fail(`${failure.sentence} Given up after ${Math.round(downFor / 1000)} s of trying.`, true);
    }
    // Backoff counts the failures of this outage only, so a destination that was live for hours starts again at
    // initialDelayMs; the last wait ends at the give-up time, so that attempt still counts.
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.#failures - 1), giveUpAfterMs - downFor);
    this.#state = { phase: 'retrying', attempt: this.#attempts + 1, reason: failure.sentence, nextAttemptAt: now + delay };
    this.#retryTimer = setTimeout(() => {
      if (!this.#stopped) ffmpegRestarted('stream_destination');
      this.#connect();
    }, delay);
  }

  #fail(reason: string, gaveUp: boolean): void {
    clearInterval(this.#checkTimer);
    this.#state = { phase: 'failed', reason };
    this.#log.warn({ reason, gaveUp }, 'stream destination failed');
    this.#opts.onEvent({ type: 'failed', name: this.destination.name, printable: this.destination.printable, reason, gaveUp });
  }

  #drop(tag: FlvTag): void {
    this.#dropped.tags++;
    framesDropped('stream_destination');
    this.#dropped.bytes += tag.bytes.length;
  }

  #bitrateKbps(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (!first || !last || last.at - first.at < 1000) return undefined;
    return Math.round(((last.bytes - first.bytes) * 8) / (last.at - first.at));
  }
}
