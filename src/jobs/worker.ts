import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { sessionGone, sessionPhase } from '../observability/metrics.ts';
import { releaseRoom } from './producer.ts';
import { redisKeys, SESSION_QUEUE, type ControlMessage, type SegmentRecord, type SessionJobData, type SessionProgress, type StopRequest } from './queues.ts';
import { OutputStore, type OutputRecord } from './outputs.ts';
import { ControlStore, type ConsentMode, type ControlEvent } from './controls.ts';
import { parseSegmentRecord } from './segment-record.ts';

export interface SessionContext {
  jobId: string;
  /** 0 for the first run; higher when the job is recovered after its worker died. */
  recovery: number;
  /** Aborted when someone asks to stop the session or the process shuts down. */
  signal: AbortSignal;
  log: Logger;
  reportProgress(progress: SessionProgress): Promise<void>;
  /** The session's segments (in no particular order), kept in Redis so that a recovering worker can list earlier ones. */
  segments: { put(segment: SegmentRecord): Promise<void>; all(): Promise<SegmentRecord[]> };
  /** The outputs the session should have (durable), and a nudge whenever a command changed them. */
  outputs: { list(): Promise<OutputRecord[]>; onChange(listener: (by: string) => void): () => void };
  /** The session's control log (pause, marks, consent; durable), and a nudge whenever a command appended to it. */
  controls: {
    list(from?: number): Promise<ControlEvent[]>;
    append(event: ControlEvent): Promise<void>;
    consentMode(): Promise<ConsentMode>;
    onChange(listener: () => void): () => void;
  };
}

/** Segment lists outlive a crashed worker by this long, then Redis drops them. */
const SEGMENTS_TTL_S = 7 * 24 * 3600;

/** Runs one call session to its end; resolves when the session is over. */
export type SessionRunner = (data: SessionJobData, ctx: SessionContext) => Promise<void>;

export interface SessionWorkerOptions {
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
}

/** Why a session's signal was aborted; the runner reads `signal.reason`. */
export class StopReason extends Error {
  readonly by: string;
  constructor(by: string) {
    super(by === 'shutdown' ? 'the worker is shutting down' : `stopped by ${by}`);
    this.by = by;
  }
}

/**
 * A BullMQ worker running call sessions. Stop requests arrive on a Redis pub/sub channel (and
 * as a durable key, for a job recovered after a crash), so `!stop` reaches the session whichever
 * process runs it. A job whose worker died is taken up again through BullMQ's stalled-job check.
 */
export class SessionWorker {
  readonly #worker: Worker<SessionJobData>;
  readonly #subscriber: Redis;
  readonly #redis: Redis;
  readonly #keys: ReturnType<typeof redisKeys>;
  readonly #log: Logger;
  readonly #running = new Map<string, AbortController>();
  readonly #outputListeners = new Map<string, Set<(by: string) => void>>();
  readonly #outputs: OutputStore;
  readonly #controls: ControlStore;
  readonly #controlListeners = new Map<string, Set<() => void>>();
  #closing: Promise<void> | undefined;

  constructor(redis: Redis, run: SessionRunner, opts: SessionWorkerOptions, log: Logger) {
    this.#redis = redis;
    this.#log = log.child({ module: 'worker' });
    this.#keys = redisKeys(opts.prefix);
    this.#outputs = new OutputStore(redis, opts.prefix);
    this.#controls = new ControlStore(redis, opts.prefix);
    this.#subscriber = redis.duplicate();
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onControl(message));
    this.#worker = new Worker<SessionJobData>(SESSION_QUEUE, (job) => this.#process(job, run), {
      connection: redis,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
      lockDuration: opts.lockDurationMs,
      stalledInterval: opts.stalledIntervalMs,
      maxStalledCount: opts.maxStalledCount,
      autorun: false,
    });
    this.#worker.on('error', (err) => this.#log.error({ err }, 'worker error'));
    this.#worker.on('stalled', (jobId) => this.#log.warn({ jobId }, 'job stalled (its worker died); it will be recovered'));
    this.#worker.on('failed', (job, err) => this.#log.warn({ jobId: job?.id, err: err.message }, 'job failed'));
  }

  async start(): Promise<void> {
    await this.#subscriber.subscribe(this.#keys.controlChannel);
    void this.#worker.run().catch((err: unknown) => this.#log.error({ err }, 'worker loop ended with an error'));
    this.#log.info({ queue: SESSION_QUEUE }, 'worker taking jobs');
  }

  /** Stops taking jobs, ends running sessions cleanly, and waits for them. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closing = this.#worker.close();
      for (const controller of this.#running.values()) controller.abort(new StopReason('shutdown'));
      await closing;
      await this.#subscriber.quit().catch((err: unknown) => this.#log.warn({ err }, 'closing the control subscriber failed'));
    })();
    return this.#closing;
  }

  async #process(job: Job<SessionJobData>, run: SessionRunner): Promise<void> {
    const jobId = job.id!;
    const data = job.data;
    if (data.version !== 1) throw new UnrecoverableError(`unsupported job payload version ${String(data.version)}`);
    const recovery = job.stalledCounter ?? 0;
    const log = this.#log.child({ jobId, roomId: data.roomId, recovery });
    const controller = new AbortController();
    this.#running.set(jobId, controller);
    try {
      const pending = await this.#redis.get(this.#keys.stopRequest(jobId));
      if (pending) controller.abort(new StopReason((JSON.parse(pending) as StopRequest).by));
      log.info({ requestedBy: data.requestedBy, kind: data.kind }, recovery ? 'recovering session' : 'starting session');
      await run(data, {
        jobId,
        recovery,
        signal: controller.signal,
        log,
        reportProgress: (progress) => {
          sessionPhase(jobId, data.kind, progress.phase);
          return job.updateProgress({ ...progress, worker: `${hostname()}:${process.pid}` });
        },
        segments: {
          put: async (segment) => {
            const key = this.#keys.segments(jobId);
            await this.#redis.multi().hset(key, String(segment.index), JSON.stringify(segment)).expire(key, SEGMENTS_TTL_S).exec();
          },
          // A record that does not parse is left out, loudly: the segments that do are still delivered.
          all: async () =>
            Object.values(await this.#redis.hgetall(this.#keys.segments(jobId))).flatMap((entry) => {
              try {
                return [parseSegmentRecord(entry)];
              } catch (err) {
                log.error({ err }, 'an earlier segment is left out of the manifest');
                return [];
              }
            }),
        },
        outputs: {
          list: () => this.#outputs.list(jobId),
          onChange: (listener) => {
            const listeners = this.#outputListeners.get(jobId) ?? new Set();
            listeners.add(listener);
            this.#outputListeners.set(jobId, listeners);
            return () => listeners.delete(listener);
          },
        },
        controls: {
          list: (from) => this.#controls.list(jobId, from),
          append: (event) => this.#controls.append(jobId, event),
          consentMode: () => this.#controls.consentMode(data.roomId),
          onChange: (listener) => {
            const listeners = this.#controlListeners.get(jobId) ?? new Set();
            listeners.add(listener);
            this.#controlListeners.set(jobId, listeners);
            return () => listeners.delete(listener);
          },
        },
      });
    } catch (err) {
      if (err instanceof RecorderError && !err.retryable) throw new UnrecoverableError(err.message);
      throw err;
    } finally {
      // SIGTERM ends sessions like !stop does (files finished, call left), so the room is free again.
      this.#running.delete(jobId);
      this.#outputListeners.delete(jobId);
      this.#controlListeners.delete(jobId);
      sessionGone(jobId);
      await releaseRoom(this.#redis, this.#keys.activeSession(data.roomId), jobId);
      await this.#redis.del(this.#keys.stopRequest(jobId), this.#keys.segments(jobId));
      await this.#outputs.clear(jobId);
      await this.#controls.clear(jobId);
    }
  }

  #onControl(message: string): void {
    let request: ControlMessage;
    try {
      request = JSON.parse(message) as ControlMessage;
    } catch (err) {
      this.#log.warn({ err }, 'ignoring a malformed control message');
      return;
    }
    if (request.type === 'outputs') {
      for (const listener of this.#outputListeners.get(request.jobId) ?? []) listener(request.by);
      return;
    }
    if (request.type === 'controls') {
      for (const listener of this.#controlListeners.get(request.jobId) ?? []) listener();
      return;
    }
    const controller = this.#running.get(request.jobId);
    if (!controller) return; // another worker owns it
    this.#log.info({ jobId: request.jobId, by: request.by }, 'stop requested');
    controller.abort(new StopReason(request.by));
  }
}
