// The outputs a session should have (its recording, its streams), kept durably in Redis per job:
// commands add and remove records and publish a nudge on the control channel; the worker that
// holds the session reconciles to the records; a worker recovering the job after a crash reads
// them and restores every output. Records hold names and options, never stream keys: a URL typed
// in a room travels sealed under a key derived from the appservice token, which Redis never sees.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RecorderError } from '../errors.ts';
import type { RecordingKind } from './queues.ts';

export type OutputRecord =
  | { id: 'recording'; type: 'recording'; kind: RecordingKind; requestedBy: string; requestEventId: string; at: number; /** `!record transcript`: transcribed when it ends. */ transcript?: boolean }
  | {
      id: string;
      type: 'stream';
      kind: RecordingKind;
      /** A configured destination's name, `hls`, or a typed URL (then only in `sealedUrl`). */
      destination: string;
      /** Printable form, never a key: what replies and !status show. */
      label: string;
      sealedUrl?: string;
      requestedBy: string;
      requestEventId: string;
      at: number;
    };

export const streamOutputId = (destinationName: string) => `stream:${destinationName}`;

export function outputsKey(prefix: string, jobId: string): string {
  return `${prefix}:outputs:${jobId}`;
}

/** Outputs of a job, as a Redis hash id → record. */
export class OutputStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async put(jobId: string, record: OutputRecord): Promise<void> {
    const key = outputsKey(this.#prefix, jobId);
    await this.#redis.multi().hset(key, record.id, JSON.stringify(record)).expire(key, 7 * 24 * 3600).exec();
  }

  /** Removes records; returns those that existed. */
  async remove(jobId: string, ids: string[]): Promise<OutputRecord[]> {
    const current = await this.list(jobId);
    const gone = current.filter((r) => ids.includes(r.id));
    if (gone.length > 0) await this.#redis.hdel(outputsKey(this.#prefix, jobId), ...gone.map((r) => r.id));
    return gone;
  }

  async list(jobId: string): Promise<OutputRecord[]> {
    const entries = await this.#redis.hgetall(outputsKey(this.#prefix, jobId));
    return Object.entries(entries)
      .map(([id, raw]) => parseOutputRecord(id, raw))
      .sort((a, b) => a.at - b.at);
  }

  async clear(jobId: string): Promise<void> {
    await this.#redis.del(outputsKey(this.#prefix, jobId));
  }
}

/** MRR_OUTPUT_RECORD: an output record in Redis is not one this version wrote; the message names the field. */
export class OutputRecordError extends RecorderError {
  constructor(id: string, problem: string) {
    super(`the output record ${JSON.stringify(id.slice(0, 80))} in Redis is not valid: ${problem}`, 'MRR_OUTPUT_RECORD', { retryable: false });
  }
}

/**
 * Reads one record back from the hash (field `id`, value `raw`). Redis is shared and outlives
 * deploys, so a record is checked field by field rather than cast: a stream without a destination
 * would otherwise fail later, far from its cause.
 */
export function parseOutputRecord(id: string, raw: string): OutputRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new OutputRecordError(id, 'it is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new OutputRecordError(id, 'it is not a JSON object');
  const r = value as Record<string, unknown>;
  const text = (field: string, optional = false) => {
    const v = r[field];
    if (optional && v === undefined) return;
    if (typeof v !== 'string' || v.length === 0) throw new OutputRecordError(id, `${field} is not a non-empty string`);
  };
  if (r.id !== id) throw new OutputRecordError(id, 'its id differs from its field in the hash');
  if (r.kind !== 'audio' && r.kind !== 'video') throw new OutputRecordError(id, 'kind is neither audio nor video');
  if (typeof r.at !== 'number' || !Number.isFinite(r.at)) throw new OutputRecordError(id, 'at is not a finite number');
  text('requestedBy');
  text('requestEventId');
  if (r.type === 'recording') {
    if (id !== 'recording') throw new OutputRecordError(id, 'a recording record must have the id recording');
  } else if (r.type === 'stream') {
    if (!id.startsWith(streamOutputId(''))) throw new OutputRecordError(id, 'a stream record must have an id stream:<name>');
    text('destination');
    text('label');
    text('sealedUrl', true);
  } else {
    throw new OutputRecordError(id, 'type is neither recording nor stream');
  }
  return r as OutputRecord;
}

/** Seals a typed destination URL for the record; only holders of the appservice token can open it. */
export function sealDestination(url: string, asToken: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', destinationKey(asToken), iv);
  const body = Buffer.concat([cipher.update(url, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

export function openDestination(sealed: string, asToken: string): string {
  const bytes = Buffer.from(sealed, 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', destinationKey(asToken), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new RecorderError('a stream destination sealed with another appservice token cannot be opened', 'MRR_SEALED_DESTINATION', { cause: err });
  }
}

const destinationKey = (asToken: string) => Buffer.from(hkdfSync('sha256', asToken, 'matrixrtc-recorder', 'stream destination', 32));
