// Segment records read back from Redis (`<prefix>:segments:<jobId>`), checked field by field: a
// recovering worker lists, archives and uploads the files a record points at, so a record of
// another version (or a damaged one) must be refused with its fault named, never half-used.
import { isAbsolute } from 'node:path';
import { RecorderError } from '../errors.ts';
import type { SegmentRecord } from './queues.ts';

/** MRR_SEGMENT_RECORD: a segment record in Redis is not one this version wrote; the message names the field. */
export class SegmentRecordError extends RecorderError {
  constructor(problem: string) {
    super(`a segment record in Redis is not valid: ${problem}`, 'MRR_SEGMENT_RECORD', { retryable: false });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

export function parseSegmentRecord(raw: string): SegmentRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new SegmentRecordError('it is not JSON');
  }
  if (!isObject(value)) throw new SegmentRecordError('it is not a JSON object');
  const { index, startedAt, worker, dir, participants, stems } = value;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw new SegmentRecordError('index is not a whole number from 0');
  const at = `segment ${index}`;
  if (!isText(startedAt) || Number.isNaN(Date.parse(startedAt))) throw new SegmentRecordError(`${at}: startedAt is not a date`);
  if (!isText(worker)) throw new SegmentRecordError(`${at}: worker is not a non-empty string`);
  // The files are looked for there: a relative path would be read from wherever the worker runs.
  if (!isText(dir) || !isAbsolute(dir) || dir.includes('\0')) throw new SegmentRecordError(`${at}: dir is not an absolute path`);
  if (!Array.isArray(participants)) throw new SegmentRecordError(`${at}: participants is not a list`);
  participants.forEach((p: unknown, i) => {
    if (!isObject(p) || !isText(p.userId) || typeof p.deviceId !== 'string' || !isOffset(p.joinedMs) || (p.leftMs !== undefined && !isOffset(p.leftMs))) {
      throw new SegmentRecordError(`${at}: participant ${i} needs userId, deviceId and joinedMs (leftMs optional), offsets of 0 or more`);
    }
  });
  if (!Array.isArray(stems)) throw new SegmentRecordError(`${at}: stems is not a list`);
  stems.forEach((s: unknown, i) => {
    // A file name inside the segment's directory, never a path out of it.
    if (!isObject(s) || !isText(s.file) || /[\\/\0]/.test(s.file) || s.file === '.' || s.file === '..') {
      throw new SegmentRecordError(`${at}: stem ${i} has no plain file name`);
    }
    if ((s.userId !== undefined && typeof s.userId !== 'string') || (s.deviceId !== undefined && typeof s.deviceId !== 'string')) {
      throw new SegmentRecordError(`${at}: stem ${i} has a userId or deviceId that is not a string`);
    }
  });
  const { endedAt, playFromMs, playUntilMs } = value;
  if (endedAt !== undefined && (!isText(endedAt) || Number.isNaN(Date.parse(endedAt)))) throw new SegmentRecordError(`${at}: endedAt is not a date`);
  if (playFromMs !== undefined && !isOffset(playFromMs)) throw new SegmentRecordError(`${at}: playFromMs is not an offset of 0 or more`);
  if (playUntilMs !== undefined && !isOffset(playUntilMs)) throw new SegmentRecordError(`${at}: playUntilMs is not an offset of 0 or more`);
  return value as unknown as SegmentRecord;
}
