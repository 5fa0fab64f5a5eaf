// Queue names, job payloads and Redis key names shared by the bridge and the workers.
// Job data carries identifiers and options only: never tokens, keys or URLs with credentials.

/** BullMQ queue of call sessions (one job = one CallSession). */
export const SESSION_QUEUE = 'session.record';
export const SESSION_JOB = 'record';

export type RecordingKind = 'audio' | 'video';

export interface SessionJobData {
  /** Bumped when the payload changes shape, so an old job is recognised after a deploy. */
  version: 1;
  roomId: string;
  requestedBy: string;
  /** The `!record` event, so replies thread to it. */
  requestEventId: string;
  kind: RecordingKind;
  requestedAt: number;
}

export type SessionPhase = 'queued' | 'joining' | 'in-call' | 'stopping';

/** What a worker reports about its session (BullMQ job progress), read by `!status`. */
export interface SessionProgress {
  phase: SessionPhase;
  /** When the bot joined the call (ms since epoch). */
  joinedAt?: number;
  /** Matrix user IDs of the call members the bot currently receives. */
  participants?: string[];
  /** Bytes written so far (all files of the current segment). */
  bytes?: number;
  /** Each output's state, for !status: names and printable forms only. */
  outputs?: OutputProgress[];
  /** Who is in the call now, as the room names them ("Alice (@alice:example.org)"). */
  inCall?: string[];
  /** Members whose voice and picture are left out (opted out, or not opted in where the room requires it). */
  notRecorded?: string[];
  /** Set while the recording is paused. */
  paused?: { by: string; since: number };
  /** Worker host:pid that runs the session, for operators. */
  worker?: string;
}

export interface OutputProgress {
  id: string;
  /** What the room reads: "recording (audio)", "stream to rtmp://host/app/•••• (video)". */
  label: string;
  state: 'connecting' | 'live' | 'retrying' | 'failed' | 'recording' | 'stopped';
  attempt?: number;
  reason?: string;
  bitrateKbps?: number;
  uptimeMs?: number;
}

/**
 * One segment of a session, kept up to date while it records: what a recovering worker needs to
 * describe its predecessors' files and participants when their worker died. Identifiers only.
 */
export interface SegmentRecord {
  index: number;
  startedAt: string;
  /** host:pid of the worker that recorded it. */
  worker: string;
  /** Where its files are, on that worker's storage. */
  dir: string;
  /** Who was in the call when (offsets from `startedAt`); open spans end at the crash. */
  participants: Array<{ userId: string; deviceId: string; joinedMs: number; leftMs?: number }>;
  /** Whose voice each stem file holds. */
  stems: Array<{ file: string; userId?: string; deviceId?: string }>;
  /** Set when the segment was handed over to another worker (shutdown): its files were closed then, not cut by a crash. */
  endedAt?: string;
  /** Hand-overs overlap: play this segment's files from here (it took over from the previous one)… */
  playFromMs?: number;
  /** …and up to here (it handed over to the next one). Offsets in the segment's files, in ms. */
  playUntilMs?: number;
}

export interface StopRequest {
  type: 'stop';
  jobId: string;
  by: string;
  at: number;
}

/** The session's outputs changed in Redis (outputs.ts): the worker holding it reconciles. */
export interface OutputsChanged {
  type: 'outputs';
  jobId: string;
  by: string;
  at: number;
}

/** Something was appended to the session's control log (controls.ts: pause, mark, consent): the worker holding it applies it. */
export interface ControlsChanged {
  type: 'controls';
  jobId: string;
  by: string;
  at: number;
}

/** The session's hand-over record changed (handover.ts): the workers waiting on it look again. */
export interface HandoverChanged {
  type: 'handover';
  jobId: string;
  at: number;
}

export type ControlMessage = StopRequest | OutputsChanged | ControlsChanged | HandoverChanged;

export const redisKeys = (prefix: string) => ({
  /** jobId of the session that owns a room; set with NX so one room has one session. */
  activeSession: (roomId: string) => `${prefix}:active:${roomId}`,
  /** A stop request that outlives a worker crash: a recovered job sees it. */
  stopRequest: (jobId: string) => `${prefix}:stop:${jobId}`,
  /** Counter of a job's attempts: each worker taking it up gets the next number, its fencing token (segment-N). */
  attempts: (jobId: string) => `${prefix}:attempts:${jobId}`,
  /** Hash of the segments a session has started so far (one more after each crash recovery), by index. */
  segments: (jobId: string) => `${prefix}:segments:${jobId}`,
  /** Hash of a session's hand-over from a worker shutting down to another one (handover.ts). */
  handover: (jobId: string) => `${prefix}:handover:${jobId}`,
  /** Pub/sub channel on which stop requests reach whichever worker owns the job. */
  controlChannel: `${prefix}:control`,
});
