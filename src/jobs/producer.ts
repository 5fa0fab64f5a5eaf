import { randomUUID } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { RecorderError } from '../errors.ts';
import {
  redisKeys, SESSION_JOB, SESSION_QUEUE,
  type ControlMessage, type SessionJobData, type SessionProgress, type StopRequest,
} from './queues.ts';
import { OutputStore, type OutputRecord } from './outputs.ts';
import { SessionQuotas, type QuotaLimits } from './quotas.ts';
import { ControlStore, type ConsentMode, type ControlEvent } from './controls.ts';

export interface SessionStatus {
  jobId: string;
  state: string;
  data: SessionJobData;
  progress: SessionProgress;
}

export type StartResult = { started: true; jobId: string } | { started: false; running: SessionStatus };

/** What adding an output did: started a session for it, added it to the running one, or found it there. */
export type AddOutputResult =
  | { outcome: 'started' | 'added'; jobId: string; /** Set when the new session waits for a busy worker: the sentence to add. */ waitingForWorker?: string }
  | { outcome: 'exists'; running: SessionStatus };

/** The bridge's side of the queue: start, stop and inspect the session of a room. */
export class SessionQueue {
  readonly #queue: Queue<SessionJobData>;
  readonly #redis: Redis;
  readonly #keys: ReturnType<typeof redisKeys>;
  readonly #outputs: OutputStore;
  readonly #controls: ControlStore;

  readonly #quotas: SessionQuotas | undefined;

  /** Without `limits`, nothing is capped (tests of the queue alone). */
  constructor(redis: Redis, prefix: string, limits?: QuotaLimits) {
    this.#redis = redis;
    this.#keys = redisKeys(prefix);
    this.#outputs = new OutputStore(redis, prefix);
    this.#controls = new ControlStore(redis, prefix);
    this.#queue = new Queue<SessionJobData>(SESSION_QUEUE, { connection: redis, prefix });
    this.#quotas = limits
      ? new SessionQuotas(redis, prefix, limits, {
          isRunning: async (jobId) => ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'].includes(String(await this.#queue.getJobState(jobId))),
          load: async () => {
            const [busy, workers] = await Promise.all([this.#queue.getJobCountByTypes('active', 'waiting', 'prioritized', 'delayed'), this.#queue.getWorkersCount()]);
            return { busy, workers };
          },
        })
      : undefined;
  }

  /**
   * Gives the room's session an output (a recording, a stream): joins the call with a new session
   * when none runs, otherwise adds it to the running one, which picks it up through the control channel.
   */
  addOutput(data: Omit<SessionJobData, 'version'>, output: OutputRecord): Promise<AddOutputResult> {
    return this.#reaching(output.type === 'recording' ? 'start the recording' : 'start the stream', async () => {
      const running = await this.#status(data.roomId);
      if (running) {
        const current = await this.#outputs.list(running.jobId);
        const existing = current.find((o) => o.id === output.id);
        if (existing) return { outcome: 'exists', running };
        this.#quotas?.checkRoomOutputs(current);
        await this.#outputs.put(running.jobId, output);
        await this.#publish({ type: 'outputs', jobId: running.jobId, by: output.requestedBy, at: Date.now() });
        return { outcome: 'added', jobId: running.jobId };
      }
      await this.#quotas?.checkUserSessions(data.requestedBy);
      const waitingForWorker = await this.#quotas?.waitingForWorker();
      const started = await this.#start(data, output);
      if (!started.started) return { outcome: 'exists', running: started.running };
      await this.#quotas?.addUserSession(data.requestedBy, started.jobId);
      return { outcome: 'started', jobId: started.jobId, ...(waitingForWorker ? { waitingForWorker } : {}) };
    });
  }

  /** Removes outputs of the room's session; a session left without outputs ends. Returns what was removed. */
  removeOutputs(roomId: string, which: (output: OutputRecord) => boolean, by: string): Promise<OutputRecord[]> {
    return this.#reaching('stop it', async () => {
      const running = await this.#status(roomId);
      if (!running) return [];
      const current = await this.#outputs.list(running.jobId);
      const removed = await this.#outputs.remove(running.jobId, current.filter(which).map((o) => o.id));
      if (removed.length === 0) return removed;
      // Nothing left to produce: the session ends (a queued one never starts).
      if (removed.length === current.length) await this.#stop(roomId, by);
      else await this.#publish({ type: 'outputs', jobId: running.jobId, by, at: Date.now() });
      return removed;
    });
  }

  /** The outputs of the room's session. */
  outputs(jobId: string): Promise<OutputRecord[]> {
    return this.#reaching('read the session', () => this.#outputs.list(jobId));
  }

  /** The room's running session with its control log (pause, marks, consent), or null when none runs. */
  controlState(roomId: string): Promise<{ running: SessionStatus; events: ControlEvent[] } | null> {
    return this.#reaching('read the recording state', async () => {
      const running = await this.#status(roomId);
      return running ? { running, events: await this.#controls.list(running.jobId) } : null;
    });
  }

  /** Appends to a session's control log; the worker holding it applies it (a recovering one replays the log). */
  appendControl(jobId: string, event: ControlEvent, by: string): Promise<void> {
    return this.#reaching('pass that on to the recording', async () => {
      await this.#controls.append(jobId, event);
      await this.#publish({ type: 'controls', jobId, by, at: Date.now() });
    });
  }

  /** The room's consent rule (a setting of the room, kept without expiry). */
  consentMode(roomId: string): Promise<ConsentMode> {
    return this.#reaching('read the consent setting', () => this.#controls.consentMode(roomId));
  }

  setConsentMode(roomId: string, mode: ConsentMode): Promise<void> {
    return this.#reaching('change the consent setting', () => this.#controls.setConsentMode(roomId, mode));
  }

  async #publish(message: ControlMessage): Promise<void> {
    await this.#redis.publish(this.#keys.controlChannel, JSON.stringify(message));
  }

  /** Starts a session whose only output is a recording of `data.kind`. */
  start(data: Omit<SessionJobData, 'version'>): Promise<StartResult> {
    const recording: OutputRecord = { id: 'recording', type: 'recording', kind: data.kind, requestedBy: data.requestedBy, requestEventId: data.requestEventId, at: Date.now() };
    return this.#reaching('start the recording', () => this.#start(data, recording));
  }

  /** The room's running (or queued) session, or null when there is none. */
  status(roomId: string): Promise<SessionStatus | null> {
    return this.#reaching('read the recording status', () => this.#status(roomId));
  }

  /** Asks whichever worker owns the room's session to stop it. Returns the job, or null if none. */
  stop(roomId: string, by: string): Promise<SessionStatus | null> {
    return this.#reaching('stop the recording', () => this.#stop(roomId, by));
  }

  /** Redis being away is said as such, in a sentence for the room; ioredis's own words go in the log. */
  async #reaching<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof RecorderError || this.#redis.status === 'ready') throw err;
      throw new RecorderError(`Redis unreachable (${this.#redis.status}): ${(err as Error).message}`, 'MRR_QUEUE_UNAVAILABLE', {
        cause: err,
        userMessage: `I cannot reach my job queue (Redis) right now, so I could not ${what}. Please try again in a moment.`,
      });
    }
  }

  async #start(data: Omit<SessionJobData, 'version'>, first: OutputRecord): Promise<StartResult> {
    const jobId = `rec_${randomUUID()}`;
    const key = this.#keys.activeSession(data.roomId);
    // One session per room: claim the room first, and only then enqueue.
    while (!(await this.#redis.set(key, jobId, 'NX'))) {
      const running = await this.#status(data.roomId);
      if (running) return { started: false, running };
      // The claim belongs to a finished or vanished job: release it (only if unchanged) and retry.
      const stale = await this.#redis.get(key);
      if (stale !== null) await this.#releaseIfOwner(data.roomId, stale);
    }
    try {
      // The output first: the worker that takes the job reads what it should produce.
      await this.#outputs.put(jobId, first);
      await this.#queue.add(SESSION_JOB, { version: 1, ...data }, {
        jobId,
        attempts: 1,
        removeOnComplete: { age: 24 * 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      });
    } catch (err) {
      await this.#releaseIfOwner(data.roomId, jobId);
      throw new RecorderError(`could not queue the session: ${(err as Error).message}`, 'MRR_QUEUE', { cause: err });
    }
    return { started: true, jobId };
  }

  async #status(roomId: string): Promise<SessionStatus | null> {
    const jobId = await this.#redis.get(this.#keys.activeSession(roomId));
    if (!jobId) return null;
    const job: Job<SessionJobData> | undefined = await this.#queue.getJob(jobId);
    if (!job) return null;
    const state = await job.getState();
    if (state !== 'active' && state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return null;
    const progress = (typeof job.progress === 'object' ? job.progress : { phase: 'queued' }) as SessionProgress;
    return { jobId, state, data: job.data, progress };
  }

  async #stop(roomId: string, by: string): Promise<SessionStatus | null> {
    const running = await this.#status(roomId);
    if (!running) return null;
    const request: StopRequest = { type: 'stop', jobId: running.jobId, by, at: Date.now() };
    await this.#redis.set(this.#keys.stopRequest(running.jobId), JSON.stringify(request), 'EX', 24 * 3600);
    await this.#publish(request);
    if (running.state !== 'active') {
      // Not taken by a worker yet: remove it so it never starts.
      const job = await this.#queue.getJob(running.jobId);
      try {
        await job?.remove();
      } catch (err) {
        // A worker took it meanwhile; the published stop request reaches that worker instead.
        if ((await job?.getState()) !== 'active') throw err;
        return running;
      }
      await this.#releaseIfOwner(roomId, running.jobId);
    }
    return running;
  }

  async close(): Promise<void> {
    await this.#queue.close();
  }

  async #releaseIfOwner(roomId: string, jobId: string): Promise<void> {
    await releaseRoom(this.#redis, this.#keys.activeSession(roomId), jobId);
  }
}

const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Deletes the room claim only if it still names `jobId` (a newer session keeps its claim). */
export async function releaseRoom(redis: Redis, key: string, jobId: string): Promise<void> {
  await redis.eval(RELEASE_SCRIPT, 1, key, jobId);
}
