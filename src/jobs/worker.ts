import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { handoverEnded, sessionGone, sessionPhase } from '../observability/metrics.ts';
import { withSecretScope } from '../observability/secrets.ts';
import { releaseRoom } from './producer.ts';
import { redisKeys, SESSION_QUEUE, type ControlMessage, type SegmentRecord, type SessionJobData, type SessionProgress, type StopRequest } from './queues.ts';
import { OutputStore, type OutputRecord } from './outputs.ts';
import { ControlStore, type ConsentMode, type ControlEvent } from './controls.ts';
import { JobLockWatch, type LockLoss } from './job-lock.ts';
import { keepSessionsApart } from './session-isolation.ts';
import { parseSegmentRecord } from './segment-record.ts';
import { HandoverStore } from './handover.ts';

export interface SessionContext {
  jobId: string;
  /** 0 for the first run; higher when the job is recovered after its worker died. */
  recovery: number;
  /**
   * This attempt's fencing token: unique and increasing per job, whatever BullMQ's counters say.
   * It names the segment, so two workers that both believe they hold the job never share files.
   */
  attempt: number;
  /** True once this worker may have lost the job to another one (its lock expired or was refused, or it handed the session over). */
  lockLost(): boolean;
  /**
   * Before the session ends as its owner: a session this worker offered to another one (shutdown)
   * is withdrawn, or found taken. 'mine': end and deliver it; 'handed-over': another worker took
   * it (close this segment, deliver nothing); 'lost': the job lock was lost.
   */
  settleOwnership(): Promise<'mine' | 'handed-over' | 'lost'>;
  /** Set when this attempt took the session over from a worker that was shutting down (hand-over). */
  handover?: {
    /** That worker's attempt (its segment's index). */
    from: number;
    /** Tells that worker this one records the call's media since `at` (wall clock): it stops its segment. */
    recording(at: number): Promise<void>;
    /** Resolves once that worker has closed its files (or, if it never says so, after a bound). */
    released(): Promise<void>;
    /** Resolves once that worker has stopped its live streams (an ingest takes one publisher per name), or closed its files, or after a bound. */
    streamsFree(): Promise<void>;
  };
  /**
   * This worker offered the session to another one (shutdown): `listener` runs as soon as that one
   * records, while this segment records its last second; the live streams make way for the successor's.
   */
  onSuccessorRecording?(listener: () => Promise<void>): void;
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  /** At shutdown, how long to wait for another worker to take each session over (0: end them at once). */
  handoverTimeoutMs: number;
}

/**
 * The old worker records on this long after its successor records: both sets of files hold the cut
 * (its clock writes a prebuffer late), and the overlap after it lets the cut be checked against the audio.
 */
const HANDOVER_OVERLAP_MS = 1_000;
/** How often a worker waiting on a hand-over looks at its record (besides the nudges on the control channel). */
const HANDOVER_POLL_MS = 200;
/** A taker waits this long, beyond the hand-over timeout, for the old worker to close its files before delivering without them being final. */
const RELEASE_GRACE_MS = 30_000;

/** One session this worker runs. */
interface RunningSession {
  controller: AbortController;
  job: Job<SessionJobData>;
  token: string | undefined;
  attempt?: number;
  /** Resolves the processor's race: the job went back to the queue for a successor, the session goes on here meanwhile. */
  movedToWait(): void;
  /** This worker offered the session to another one (shutdown). */
  offered: boolean;
  /** Another worker took the session over: this one closes its segment and leaves Redis to it. */
  handedOver: boolean;
  /** This worker withdrew its offer: it ends the session as its owner, without BullMQ's lock. */
  withdrew: boolean;
  /** The session has ended here. */
  finished: boolean;
  /** What the session does when its successor records (see SessionContext.onSuccessorRecording). */
  successorRecording?: () => Promise<void>;
  /** The hand-over's outcome went to the metrics (this worker ended the session itself). */
  outcomeCounted?: boolean;
}

/** The session's signal is aborted with this when the job's lock is lost: another worker records it now. */
export class LockLost extends Error {
  constructor(why: LockLoss) {
    super(why === 'refused' ? 'another worker holds the job now' : 'the job lock expired before this worker could renew it');
  }
}

/**
 * The session's signal is aborted with this when another worker took the session over (this one
 * shuts down): `recordingAt` is when the successor's recording carried the call's media, the cut
 * point (absent when the successor took the session but never said it records).
 */
export class HandedOver extends Error {
  readonly recordingAt: number | undefined;
  constructor(recordingAt: number | undefined) {
    super('another worker took the session over');
    this.recordingAt = recordingAt;
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
  readonly #running = new Map<string, RunningSession>();
  /** Sessions still running here after their job went back to the queue (hand-over), awaited by close(). */
  readonly #detached = new Set<Promise<void>>();
  /** Who waits on a job's hand-over record, nudged when it changes. */
  readonly #handoverListeners = new Map<string, Set<() => void>>();
  readonly #handovers: HandoverStore;
  readonly #handoverTimeoutMs: number;
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
    this.#handovers = new HandoverStore(redis, opts.prefix);
    this.#handoverTimeoutMs = opts.handoverTimeoutMs;
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

  /**
   * Stops taking jobs and hands each running session to another worker, recording on until that
   * one records (or, when none takes it in time, ends it cleanly here); waits for them. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Stops fetching at once; resolves when every processor returned (a session handed over returns when its job is back in the queue).
      const closing = this.#worker.close();
      await Promise.all([...this.#running.entries()].map(([jobId, session]) => this.#handOver(jobId, session)));
      await closing;
      await Promise.allSettled([...this.#detached]);
      this.#locks.stop();
      await this.#subscriber.quit().catch((err: unknown) => this.#log.warn({ err }, 'closing the control subscriber failed'));
    })();
    return this.#closing;
  }

  async #process(job: Job<SessionJobData>, token: string | undefined, run: SessionRunner): Promise<void> {
    // A fetch already waiting when close() began can still hand this worker a job, even the one it just offered: back it goes.
    if (this.#closing) {
      await job.moveToWait(token);
      throw new WaitingError();
    }
    let movedToWait!: () => void;
    const moved = new Promise<'moved'>((resolve) => (movedToWait = () => resolve('moved')));
    const session: RunningSession = { controller: new AbortController(), job, token, movedToWait, offered: false, handedOver: false, withdrew: false, finished: false };
    const running = this.#runSession(job, token, run, session);
    const first = await Promise.race([running.then(() => 'ended' as const), moved]);
    if (first === 'ended') return;
    // The job waits in the queue for a successor; the session records on here until that one records.
    const detached = running.catch((err: unknown) => this.#log.warn({ jobId: job.id, err }, 'a session offered to another worker ended with an error'));
    this.#detached.add(detached);
    void detached.finally(() => this.#detached.delete(detached));
    throw new WaitingError();
  }

  async #runSession(job: Job<SessionJobData>, token: string | undefined, run: SessionRunner, session: RunningSession): Promise<void> {
    const jobId = job.id!;
    const data = job.data;
    if (data.version !== 1) throw new UnrecoverableError(`unsupported job payload version ${String(data.version)}`);
    const recovery = job.stalledCounter ?? 0;
    const log = this.#log.child({ jobId, roomId: data.roomId, recovery });
    const controller = session.controller;
    // BullMQ took the lock when it handed the job out (processedOn), before this line.
    this.#locks.track(jobId, job.processedOn ?? Date.now());
    this.#running.set(jobId, session);
    let attempt: number | undefined;
    /** Set when the offer this job came with was withdrawn: the offering worker ends the session, this attempt does nothing. */
    let notOurs = false;
    try {
      const fence = await this.#nextAttempt(jobId);
      attempt = fence;
      session.attempt = fence;
      const offer = await this.#handovers.read(jobId);
      let takenFrom: number | undefined;
      if (offer?.state === 'offered' || offer?.state === 'withdrawn') {
        if (offer.state === 'offered' && (await this.#handovers.take(jobId, fence))) takenFrom = offer.from;
        else {
          notOurs = true;
          log.info({ from: offer.from }, 'the worker that offered this session withdrew its offer; it ends the session itself');
          return;
        }
        log.info({ from: takenFrom, attempt: fence }, 'taking the session over from a worker that is shutting down');
      }
      const pending = await this.#redis.get(this.#keys.stopRequest(jobId));
      if (pending) controller.abort(new StopReason((JSON.parse(pending) as StopRequest).by));
      if (takenFrom === undefined) log.info({ requestedBy: data.requestedBy, kind: data.kind }, recovery ? 'recovering session' : 'starting session');
      // The session's tokens (call user, SFU JWTs, typed stream keys) are scrubbed from logs while it runs, then forgotten.
      await withSecretScope(() => run(data, {
        jobId,
        recovery,
        attempt: fence,
        lockLost: () => this.#locks.lost(jobId) || session.handedOver,
        settleOwnership: () => this.#settleOwnership(jobId, session, log),
        ...(takenFrom !== undefined
          ? {
              handover: {
                from: takenFrom,
                recording: async (at: number) => {
                  if (!(await this.#handovers.recording(jobId, fence, at))) log.warn({ from: takenFrom }, 'the hand-over record no longer names this attempt; the previous worker stops by its own timeout');
                  else handoverEnded('taken', offer?.offeredAt !== undefined ? at - offer.offeredAt : undefined);
                },
                released: () => this.#released(jobId, takenFrom, log),
                streamsFree: () => this.#released(jobId, takenFrom, log, 'streams'),
              },
            }
          : {}),
        onSuccessorRecording: (listener) => (session.successorRecording = listener),
        signal: controller.signal,
        log,
        reportProgress: (progress) => {
          sessionPhase(jobId, data.kind, progress.phase);
          // A worker that lost or offered the job must not overwrite what its successor reports.
          if (this.#locks.lost(jobId) || session.offered) return Promise.resolve();
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
      // A session ended here (stopped, call over, or SIGTERM with nobody taking it over) frees the room.
      session.finished = true;
      this.#running.delete(jobId);
      this.#outputListeners.delete(jobId);
      sessionGone(jobId);
      this.#controlListeners.delete(jobId);
      const owned = !notOurs && (session.withdrew || (!session.handedOver && (await this.#stillOwns(jobId, token, attempt))));
      this.#locks.untrack(jobId);
      if (session.handedOver && attempt !== undefined) {
        // The successor waits for this before it describes and delivers this segment's files.
        await this.#handovers.release(jobId, attempt).catch((err: unknown) => log.error({ err }, 'could not tell the successor that this segment is closed; it delivers after its wait'));
        log.info({ attempt }, 'session handed over: this segment is closed, the successor records and delivers');
      } else if (notOurs) {
        // Nothing was started: the worker that withdrew the offer ends the session.
      } else if (owned) {
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
    this.#running.get(jobId)?.controller.abort(new LockLost(why));
  }

  /**
   * Offers a running session to another worker (shutdown): its job goes back to the queue with a
   * hand-over record, and the session records on here until the worker that takes it records too;
   * then it stops. Nobody taking it within the hand-over timeout: it ends here as before.
   */
  async #handOver(jobId: string, session: RunningSession): Promise<void> {
    const { controller } = session;
    const log = this.#log.child({ jobId, attempt: session.attempt });
    if (this.#handoverTimeoutMs === 0 || session.attempt === undefined || controller.signal.aborted || this.#locks.lost(jobId)) {
      controller.abort(new StopReason('shutdown'));
      return;
    }
    // BullMQ's lock goes with the job: a renewal refused from now on is expected, not a lost job.
    this.#locks.untrack(jobId);
    const offeredAt = Date.now();
    try {
      await this.#handovers.offer(jobId, session.attempt, offeredAt);
      session.offered = true;
      await session.job.moveToWait(session.token);
    } catch (err) {
      log.error({ err }, 'could not offer the session to another worker; ending it here');
      handoverEnded('failed');
      session.outcomeCounted = true;
      if (session.offered && !(await this.#handovers.withdraw(jobId, session.attempt).catch(() => false))) session.handedOver = true;
      session.offered = false;
      this.#locks.track(jobId, Date.now());
      controller.abort(new StopReason('shutdown'));
      return;
    }
    session.movedToWait();
    log.info({ timeoutMs: this.#handoverTimeoutMs }, 'session offered to another worker (shutting down); recording on until it records');
    let deadline = offeredAt + this.#handoverTimeoutMs;
    let takenBy: number | undefined;
    while (!session.finished && !controller.signal.aborted) {
      const record = await this.#handovers.read(jobId).catch((err: unknown) => {
        log.warn({ err }, 'could not read the hand-over record');
        return undefined;
      });
      if (record?.state === 'taken' && record.recordingAt !== undefined) {
        log.info({ by: record.by, msSinceOffer: Date.now() - offeredAt, recordingAt: record.recordingAt }, 'the successor records; stopping this segment');
        // Recording on a little longer: this clock writes what was heard one prebuffer late, and the cut must be in both segments.
        // The live streams stop meanwhile, so the successor's take their names at the ingest as early as possible.
        await Promise.all([sleep(HANDOVER_OVERLAP_MS), this.#releaseStreams(jobId, session, log)]);
        controller.abort(new HandedOver(record.recordingAt));
        return;
      }
      if (record?.state === 'taken' && takenBy === undefined) {
        takenBy = record.by;
        // Joining the call takes a while: the successor gets the whole timeout again to record.
        deadline = Date.now() + this.#handoverTimeoutMs;
        log.info({ by: takenBy, msSinceOffer: Date.now() - offeredAt }, 'another worker took the session; waiting for it to record');
      }
      if (Date.now() >= deadline) {
        if (takenBy === undefined) {
          log.warn({ timeoutMs: this.#handoverTimeoutMs }, 'no worker took the session over in time; ending it here');
          handoverEnded('timed_out');
          session.outcomeCounted = true;
        }
        else log.warn({ by: takenBy }, 'the worker that took the session over does not record yet; closing this segment and leaving the session to it');
        controller.abort(takenBy === undefined ? new StopReason('shutdown') : new HandedOver(undefined));
        return;
      }
      await this.#handoverNudge(jobId, HANDOVER_POLL_MS);
    }
  }

  /** See SessionContext.settleOwnership. */
  async #settleOwnership(jobId: string, session: RunningSession, log: Logger): Promise<'mine' | 'handed-over' | 'lost'> {
    if (session.handedOver) return 'handed-over';
    if (session.offered && !session.withdrew) {
      if (await this.#handovers.withdraw(jobId, session.attempt!)) {
        session.withdrew = true;
        // The job waits in the queue: removed, it never starts; a worker that took it meanwhile finds the offer withdrawn.
        await session.job.remove().catch((err: unknown) => log.info({ err: (err as Error).message }, 'the offered job could not be removed from the queue; the worker holding it finds the offer withdrawn'));
        log.info('offer withdrawn: this worker ends the session');
        if (!session.outcomeCounted) handoverEnded('stopped');
        session.outcomeCounted = true;
      } else {
        session.handedOver = true;
        return 'handed-over';
      }
    }
    return this.#locks.lost(jobId) ? 'lost' : 'mine';
  }

  /** The offering worker's side: its session's live streams stop for the successor's, and the successor hears so. */
  async #releaseStreams(jobId: string, session: RunningSession, log: Logger): Promise<void> {
    try {
      await session.successorRecording?.();
    } catch (err) {
      log.error({ err }, 'stopping the live streams for the successor failed; it starts its own once this segment is closed');
      return;
    }
    await this.#handovers.streamsReleased(jobId, session.attempt!).catch((err: unknown) => log.error({ err }, 'could not tell the successor that the live streams stopped; it starts its own once this segment is closed'));
  }

  /**
   * The taker's side: resolves once the worker that offered the session closed its files (or, with
   * `streams`, stopped its live streams, which comes first), or after a bound.
   */
  async #released(jobId: string, from: number, log: Logger, what: 'files' | 'streams' = 'files'): Promise<void> {
    const until = Date.now() + this.#handoverTimeoutMs * 2 + RELEASE_GRACE_MS;
    while (Date.now() < until) {
      const record = await this.#handovers.read(jobId).catch(() => undefined);
      if (!record || record.from !== from || record.releasedAt !== undefined) return;
      if (what === 'streams' && record.streamsReleasedAt !== undefined) return;
      await this.#handoverNudge(jobId, HANDOVER_POLL_MS);
    }
    log.warn({ from, what }, what === 'files' ? 'the previous worker never said its segment is closed; delivering its files as they are' : 'the previous worker never said its live streams stopped; starting them here');
  }

  /** Resolves at the next change of the job's hand-over record, or after `ms`. */
  #handoverNudge(jobId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const listeners = this.#handoverListeners.get(jobId) ?? new Set();
      this.#handoverListeners.set(jobId, listeners);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(done);
        if (listeners.size === 0) this.#handoverListeners.delete(jobId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      listeners.add(done);
    });
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
    if (request.type === 'handover') {
      for (const listener of [...(this.#handoverListeners.get(request.jobId) ?? [])]) listener();
      return;
    }
    const session = this.#running.get(request.jobId);
    if (!session) return; // another worker owns it
    this.#log.info({ jobId: request.jobId, by: request.by }, 'stop requested');
    session.controller.abort(new StopReason(request.by));
  }
}
