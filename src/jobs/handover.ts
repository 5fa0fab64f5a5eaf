// Zero-gap hand-over of a running session from a worker that is shutting down (a rolling deploy)
// to another worker. The hash `<prefix>:handover:<jobId>` is the only agreement between the two:
// the old worker offers the session and puts its job back in the queue; the worker that takes the
// job up takes the offer, joins the call, and says when it records; the old worker stops then,
// and says when its files are closed. An offer nobody took in time is withdrawn. `state` changes
// only by compare-and-set in Redis, so exactly one of the two ends (and delivers) the session.
import type { Redis } from 'ioredis';
import { redisKeys, type HandoverChanged } from './queues.ts';

export type HandoverState = 'offered' | 'taken' | 'withdrawn';

export interface Handover {
  /** The attempt (fencing token, segment index) of the worker that offered the session. */
  from: number;
  state: HandoverState;
  /** The attempt that took it. */
  by?: number;
  /** When the taker's recording carried the call's media (wall clock, ms): the cut point. */
  recordingAt?: number;
  /** When the offering worker had closed its files (wall clock, ms). */
  releasedAt?: number;
  /** When the session was offered (wall clock, ms): the shutdown's start, for the hand-over time. */
  offeredAt?: number;
  /**
   * When the offering worker had stopped its live streams (wall clock, ms): an RTMP ingest takes
   * one publisher per stream name, so the taker starts its streams only then (or at releasedAt).
   */
  streamsReleasedAt?: number;
}

/** A hand-over record expires with the segment records it describes. */
const HANDOVER_TTL_S = 7 * 24 * 3600;

const TAKE = `if redis.call('hget', KEYS[1], 'state') == 'offered' then redis.call('hset', KEYS[1], 'state', 'taken', 'by', ARGV[1]) return 1 end return 0`;
const WITHDRAW = `if redis.call('hget', KEYS[1], 'state') == 'offered' and redis.call('hget', KEYS[1], 'from') == ARGV[1] then redis.call('hset', KEYS[1], 'state', 'withdrawn') return 1 end return 0`;
const RECORDING = `if redis.call('hget', KEYS[1], 'state') == 'taken' and redis.call('hget', KEYS[1], 'by') == ARGV[1] then redis.call('hset', KEYS[1], 'recordingAt', ARGV[2]) return 1 end return 0`;
const STREAMS_RELEASED = `if redis.call('hget', KEYS[1], 'from') == ARGV[1] then redis.call('hset', KEYS[1], 'streamsReleasedAt', ARGV[2]) return 1 end return 0`;
const RELEASE = `if redis.call('hget', KEYS[1], 'from') == ARGV[1] then redis.call('hset', KEYS[1], 'releasedAt', ARGV[2]) return 1 end return 0`;

const STATES = new Set<string>(['offered', 'taken', 'withdrawn']);

/** Reads a hand-over hash; a record this version did not write is refused with its fault named. */
export function parseHandover(fields: Record<string, string>): Handover | undefined {
  if (Object.keys(fields).length === 0) return undefined;
  const whole = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`the hand-over record's ${name} is not a whole number: ${JSON.stringify(value)}`);
    return n;
  };
  const { state } = fields;
  if (state === undefined || !STATES.has(state)) throw new Error(`the hand-over record's state is not one of ${[...STATES].join(', ')}: ${JSON.stringify(state)}`);
  const from = whole('from', fields.from);
  if (from === undefined) throw new Error('the hand-over record has no from');
  const by = whole('by', fields.by);
  const recordingAt = whole('recordingAt', fields.recordingAt);
  const releasedAt = whole('releasedAt', fields.releasedAt);
  const offeredAt = whole('offeredAt', fields.offeredAt);
  const streamsReleasedAt = whole('streamsReleasedAt', fields.streamsReleasedAt);
  return {
    from,
    state: state as HandoverState,
    ...(by !== undefined ? { by } : {}),
    ...(recordingAt !== undefined ? { recordingAt } : {}),
    ...(releasedAt !== undefined ? { releasedAt } : {}),
    ...(offeredAt !== undefined ? { offeredAt } : {}),
    ...(streamsReleasedAt !== undefined ? { streamsReleasedAt } : {}),
  };
}

export class HandoverStore {
  readonly #redis: Redis;
  readonly #keys: ReturnType<typeof redisKeys>;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#keys = redisKeys(prefix);
  }

  async read(jobId: string): Promise<Handover | undefined> {
    return parseHandover(await this.#redis.hgetall(this.#keys.handover(jobId)));
  }

  /** The worker running attempt `from` offers the session (before it puts the job back in the queue). */
  async offer(jobId: string, from: number, at = Date.now()): Promise<void> {
    const key = this.#keys.handover(jobId);
    await this.#redis.multi().del(key).hset(key, 'from', String(from), 'state', 'offered', 'offeredAt', String(at)).expire(key, HANDOVER_TTL_S).exec();
  }

  /** Attempt `by` takes an offered session; false when nothing is offered (withdrawn, or no hand-over). */
  async take(jobId: string, by: number): Promise<boolean> {
    return (await this.#redis.eval(TAKE, 1, this.#keys.handover(jobId), String(by))) === 1;
  }

  /** The offering worker takes its offer back; false when another worker took it first. */
  async withdraw(jobId: string, from: number): Promise<boolean> {
    return (await this.#redis.eval(WITHDRAW, 1, this.#keys.handover(jobId), String(from))) === 1;
  }

  /** The taker records the call's media since `at`: the offering worker may stop. */
  async recording(jobId: string, by: number, at: number): Promise<boolean> {
    const done = (await this.#redis.eval(RECORDING, 1, this.#keys.handover(jobId), String(by), String(at))) === 1;
    await this.#nudge(jobId);
    return done;
  }

  /** The offering worker stopped its live streams: the taker may publish to the same stream names. */
  async streamsReleased(jobId: string, from: number): Promise<boolean> {
    const done = (await this.#redis.eval(STREAMS_RELEASED, 1, this.#keys.handover(jobId), String(from), String(Date.now()))) === 1;
    await this.#nudge(jobId);
    return done;
  }

  /** The offering worker closed its files: the taker may describe and deliver them. */
  async release(jobId: string, from: number): Promise<boolean> {
    const done = (await this.#redis.eval(RELEASE, 1, this.#keys.handover(jobId), String(from), String(Date.now()))) === 1;
    await this.#nudge(jobId);
    return done;
  }

  async #nudge(jobId: string): Promise<void> {
    const message: HandoverChanged = { type: 'handover', jobId, at: Date.now() };
    await this.#redis.publish(this.#keys.controlChannel, JSON.stringify(message));
  }
}
