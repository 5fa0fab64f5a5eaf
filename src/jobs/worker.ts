import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { sessionGone, sessionPhase } from '../observability/metrics.ts';
import { withSecretScope } from '../observability/secrets.ts';
import { releaseRoom } from './producer.ts';
import { redisKeys, SESSION_QUEUE, type ControlMessage, type SegmentRecord, type SessionJobData, type SessionProgress, type StopRequest } from './queues.ts';
import { OutputStore, type OutputRecord } from './outputs.ts';
import { ControlStore, type ConsentMode, type ControlEvent } from './controls.ts';
import { JobLockWatch, type LockLoss } from './job-lock.ts';
import { keepSessionsApart } from './session-isolation.ts';
import { parseSegmentRecord } from './segment-record.ts';

export interface SessionContext {
  jobId: string;
  /** 0 for the first run; higher when the job is recovered after its worker died. */
  recovery: number;
  /**
   * This attempt's fencing token: unique and increasing per job, whatever BullMQ's counters say.
   * It names the segment, so two workers that both believe they hold the job never share files.
   */
  attempt: number;
  /** True once this worker may have lost the job to another one (its lock expired or was refused). */
  lockLost(): boolean;
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

/** The session's signal is aborted with this when the job's lock is lost: another worker records it now. */
export class LockLost extends Error {
  constructor(why: LockLoss) {
    super(why === 'refused' ? 'another worker holds the job now' : 'the job lock expired before this worker could renew it');
  }
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
  readonly #locks: JobLockWatch;
  readonly #prefix: string;
  #closing: Promise<void> | undefined;

  constructor(redis: Redis, run: SessionRunner, opts: SessionWorkerOptions, log: Logger) {
    this.#redis = redis;
    this.#log = log.child({ module: 'worker' });
    this.#keys = redisKeys(opts.prefix);
    this.#prefix = opts.prefix;
    this.#locks = new JobLockWatch(opts.lockDurationMs, (jobId, why) => this.#onLockLost(jobId, why));
    this.#outputs = new OutputStore(redis, opts.prefix);
    this.#controls = new ControlStore(redis, opts.prefix);
    this.#subscriber = redis.duplicate();
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onControl(message));
    this.#worker = new Worker<SessionJobData>(SESSION_QUEUE, (job, token) => this.#process(job, token, run), {
      connection: redis,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
      lockDuration: opts.lockDurationMs,
      stalledInterval: opts.stalledIntervalMs,
      maxStalledCount: opts.maxStalledCount,
      autorun: false,
    });
    this.#worker.on('error', (err) => this.#log.error({ err }, 'worker error'));
    this.#worker.on('locksRenewed', ({ jobIds }) => this.#locks.renewed(jobIds));
    this.#worker.on('lockRenewalFailed', (jobIds) => this.#locks.refused(jobIds));
    this.#worker.on('stalled', (jobId) => this.#log.warn({ jobId }, 'job stalled (its worker died); it will be recovered'));
    this.#worker.on('failed', (job, err) => this.#log.warn({ jobId: job?.id, err: err.message }, 'job failed'));
  }

  async start(): Promise<void> {
    await this.#subscriber.subscribe(this.#keys.controlChannel);
    this.#locks.start();
    keepSessionsApart(this.#log);
    void this.#worker.run().catch((err: unknown) => this.#log.error({ err }, 'worker loop ended with an error'));
    this.#log.info({ queue: SESSION_QUEUE }, 'worker taking jobs');
  }

  /** Stops taking jobs, ends running sessions cleanly, and waits for them. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closing = this.#worker.close();
      for (const controller of this.#running.values()) controller.abort(new StopReason('shutdown'));
      await closing;
      this.#locks.stop();
      await this.#subscriber.quit().catch((err: unknown) => this.#log.warn({ err }, 'closing the control subscriber failed'));
    })();
    return this.#closing;
  }

  async #process(job: Job<SessionJobData>, token: string | undefined, run: SessionRunner): Promise<void> {
    const jobId = job.id!;
    const data = job.data;
    if (data.version !== 1) throw new UnrecoverableError(`unsupported job payload version ${String(data.version)}`);
    const recovery = job.stalledCounter ?? 0;
    const log = this.#log.child({ jobId, roomId: data.roomId, recovery });
    const controller = new AbortController();
    // BullMQ took the lock when it handed the job out (processedOn), before this line.
    this.#locks.track(jobId, job.processedOn ?? Date.now());
    this.#running.set(jobId, controller);
    let attempt: number | undefined;
    try {
      const fence = await this.#nextAttempt(jobId);
      attempt = fence;
      const pending = await this.#redis.get(this.#keys.stopRequest(jobId));
      if (pending) controller.abort(new StopReason((JSON.parse(pending) as StopRequest).by));
      log.info({ requestedBy: data.requestedBy, kind: data.kind }, recovery ? 'recovering session' : 'starting session');
      // The session's tokens (call user, SFU JWTs, typed stream keys) are scrubbed from logs while it runs, then forgotten.
      await withSecretScope(() => run(data, {
        jobId,
        recovery,
        attempt: fence,
        lockLost: () => this.#locks.lost(jobId),
        signal: controller.signal,
        log,
        reportProgress: (progress) => {
          sessionPhase(jobId, data.kind, progress.phase);
          // A worker that lost the job must not overwrite what its successor reports.
          if (this.#locks.lost(jobId)) return Promise.resolve();
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
      }));
    } catch (err) {
      if (err instanceof RecorderError && !err.retryable) throw new UnrecoverableError(err.message);
      throw err;
    } finally {
      // SIGTERM ends sessions like !stop does (files finished, call left), so the room is free again.
      this.#running.delete(jobId);
      this.#outputListeners.delete(jobId);
      sessionGone(jobId);
      this.#controlListeners.delete(jobId);
      const owned = await this.#stillOwns(jobId, token, attempt);
      this.#locks.untrack(jobId);
      if (owned) {
        await releaseRoom(this.#redis, this.#keys.activeSession(data.roomId), jobId);
        await this.#redis.del(this.#keys.stopRequest(jobId), this.#keys.segments(jobId), this.#keys.attempts(jobId));
        await this.#outputs.clear(jobId);
        await this.#controls.clear(jobId);
      } else {
        // Another attempt owns the room claim, the outputs and the segment list now: leave them.
        log.warn({ attempt }, 'this worker lost the job; leaving its state in Redis to the worker that holds it');
      }
    }
  }

  /** Fencing token of a new attempt: INCR is atomic, so no two attempts of a job get the same one. */
  async #nextAttempt(jobId: string): Promise<number> {
    const key = this.#keys.attempts(jobId);
    const [[incrErr, next] = [], [expireErr] = []] = (await this.#redis.multi().incr(key).expire(key, SEGMENTS_TTL_S).exec()) ?? [];
    if (incrErr || expireErr || typeof next !== 'number') throw new Error(`could not number this attempt of the job: ${(incrErr ?? expireErr)?.message ?? 'no reply'}`);
    return next - 1;
  }

  /**
   * Whether this attempt may still clean up the job's state: the lock never lapsed here, BullMQ's
   * lock in Redis still carries this worker's token, and no later attempt was numbered.
   */
  async #stillOwns(jobId: string, token: string | undefined, attempt: number | undefined): Promise<boolean> {
    if (this.#locks.lost(jobId) || token === undefined || attempt === undefined) return false;
    const [lock, latest] = await this.#redis.mget(`${this.#prefix}:${SESSION_QUEUE}:${jobId}:lock`, this.#keys.attempts(jobId));
    return lock === token && latest === String(attempt + 1);
  }

  #onLockLost(jobId: string, why: LockLoss): void {
    this.#log.error({ jobId, why }, 'job lock lost; stopping this recording at once, another worker may record the call now');
    this.#running.get(jobId)?.abort(new LockLost(why));
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
