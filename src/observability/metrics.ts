// The process's Prometheus metrics, behind small functions: the rest of the code says what
// happened (a session changed phase, a frame was dropped) and never touches prom-client.
// Each role has a registry of its own, served on its own port (health-server.ts), so one
// Prometheus configuration scrapes a deployment the same way whether the bridge and the worker
// run as separate processes or together in `all`. docs/metrics.md describes every metric.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type MetricsRole = 'bridge' | 'worker';

const registries: Record<MetricsRole, Registry> = { bridge: new Registry(), worker: new Registry() };
const defaultsCollected = new Set<MetricsRole>();

/** The role's registry; process metrics (CPU, memory, event loop) are added the first time it is served. */
export function metricsRegistry(role: MetricsRole): Registry {
  if (!defaultsCollected.has(role)) {
    defaultsCollected.add(role);
    collectDefaultMetrics({ register: registries[role], prefix: 'mrr_' });
  }
  return registries[role];
}

const worker = [registries.worker];

// ---- sessions (worker) ----

type SessionKind = 'audio' | 'video';
type SessionPhase = 'queued' | 'joining' | 'in-call' | 'stopping';
const sessions = new Map<string, { kind: SessionKind; phase: SessionPhase }>();

new Gauge({
  name: 'mrr_sessions',
  help: 'Call sessions this worker runs, by kind (audio or video) and phase.',
  labelNames: ['kind', 'phase'] as const,
  registers: worker,
  collect() {
    this.reset();
    for (const { kind, phase } of sessions.values()) this.inc({ kind, phase });
  },
});

/** The session `jobId` (of `kind`) is now in `phase`. */
export function sessionPhase(jobId: string, kind: SessionKind, phase: SessionPhase): void {
  sessions.set(jobId, { kind, phase });
}

/** The session no longer runs on this worker (ended, failed or handed on). */
export function sessionGone(jobId: string): void {
  sessions.delete(jobId);
}

const sessionsEnded = new Counter({
  name: 'mrr_sessions_ended_total',
  help: 'Call sessions ended on this worker, by reason.',
  labelNames: ['reason'] as const,
  registers: worker,
});

/** Reasons: call-ended, stopped, removed, max-duration, shutdown, failed, join-failed. */
export function sessionEnded(reason: string): void {
  sessionsEnded.inc({ reason });
}

const joinSeconds = new Histogram({
  name: 'mrr_join_seconds',
  help:
    'Seconds from the request (or, for a job recovered after a worker died, from its recovery) to the bot being in the call ' +
    '(stage="joined") and to the first decrypted audio frame (stage="first_audio").',
  labelNames: ['stage', 'from'] as const,
  buckets: [0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120],
  registers: worker,
});

export function joinLatency(stage: 'joined' | 'first_audio', from: 'request' | 'recovery', ms: number): void {
  joinSeconds.observe({ stage, from }, ms / 1000);
}

const handovers = new Counter({
  name: 'mrr_handovers_total',
  help:
    'Sessions offered to another worker at shutdown, by outcome: taken (counted by the worker that took it, once it records), ' +
    'timed_out, stopped or failed (counted by the worker shutting down, which then ends the session itself).',
  labelNames: ['outcome'] as const,
  registers: worker,
});

const handoverSeconds = new Histogram({
  name: 'mrr_handover_seconds',
  help: 'Seconds from the shutting-down worker offering a session (its SIGTERM) to the worker that took it recording the call (the cut).',
  buckets: [0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60],
  registers: worker,
});

/**
 * One hand-over ended: `taken` by the worker that took it (with the time from the offer to its recording),
 * `timed_out` (nobody took it in time), `stopped` (the session ended while offered) or `failed` (the offer could not be made) by the offering worker.
 */
export function handoverEnded(outcome: 'taken' | 'timed_out' | 'stopped' | 'failed', offerToRecordingMs?: number): void {
  handovers.inc({ outcome });
  if (offerToRecordingMs !== undefined) handoverSeconds.observe(offerToRecordingMs / 1000);
}

// ---- media (worker) ----

const bytesWritten = new Counter({
  name: 'mrr_recording_bytes_written_total',
  help: 'Bytes of recording files (audio, video) written to the local output directory.',
  registers: worker,
});
const bytesSeen = new Map<string, number>();

/**
 * The recording files in `segmentDir` now hold `total` bytes; the counter grows by the difference
 * since the last call for that directory. `done` forgets the directory.
 */
export function recordingBytes(segmentDir: string, total: number, done = false): void {
  const before = bytesSeen.get(segmentDir) ?? 0;
  if (total > before) bytesWritten.inc(total - before);
  if (done) bytesSeen.delete(segmentDir);
  else bytesSeen.set(segmentDir, Math.max(before, total));
}

const decryptionFailures = new Counter({
  name: 'mrr_decryption_failures_total',
  help: 'Participants whose media stayed undecryptable past the grace period (each told to the room), by cause.',
  labelNames: ['cause'] as const,
  registers: worker,
});

export function decryptionFailure(cause: 'no_key' | 'wrong_key'): void {
  decryptionFailures.inc({ cause });
}

const ffmpegRestarts = new Counter({
  name: 'mrr_ffmpeg_restarts_total',
  help: 'ffmpeg processes started again after they ended unexpectedly: a stream encoder, or a stream destination reconnecting.',
  labelNames: ['process'] as const,
  registers: worker,
});

export function ffmpegRestarted(process: 'stream_encoder' | 'stream_destination'): void {
  ffmpegRestarts.inc({ process });
}

const ffmpegFailures = new Counter({
  name: 'mrr_ffmpeg_failures_total',
  help: 'Recording ffmpeg processes (audio files, composite video) that exited with an error or a signal.',
  registers: worker,
});

export function ffmpegFailed(): void {
  ffmpegFailures.inc();
}

const droppedFrames = new Counter({
  name: 'mrr_dropped_frames_total',
  help:
    'Media dropped instead of queued without bound, by stage: stream_audio (20 ms chunks) and stream_video (frames) not taken by a ' +
    'stream encoder, stream_destination (encoded FLV frames) not taken by a destination; recording stages where they drop.',
  labelNames: ['stage'] as const,
  registers: worker,
});

export function framesDropped(stage: string, count = 1): void {
  droppedFrames.inc({ stage }, count);
}

const retentionFiles = new Counter({
  name: 'mrr_retention_removed_files_total',
  help: 'Local recording files removed because they were older than recording.retentionDays.',
  registers: worker,
});
const retentionBytes = new Counter({
  name: 'mrr_retention_removed_bytes_total',
  help: 'Bytes of the local recording files removed by retention.',
  registers: worker,
});

export function retentionRemoved(files: number, bytes: number): void {
  retentionFiles.inc(files);
  retentionBytes.inc(bytes);
}

// ---- reachability (both roles) ----

type Target = 'redis' | 'homeserver';
const up = Object.fromEntries(
  (['bridge', 'worker'] as const).map((role) => [
    role,
    {
      redis: new Gauge({ name: 'mrr_redis_up', help: 'Whether the last PING reached Redis (1) or not (0).', registers: [registries[role]] }),
      homeserver: new Gauge({
        name: 'mrr_homeserver_up',
        help: 'Whether the last GET /_matrix/client/versions on the homeserver answered 200 (1) or not (0).',
        registers: [registries[role]],
      }),
    },
  ]),
) as Record<MetricsRole, Record<Target, Gauge>>;

export function reachable(role: MetricsRole, target: Target, ok: boolean): void {
  up[role][target].set(ok ? 1 : 0);
}

// ---- the queue (bridge) ----

/** Reads the job counts of each queue at scrape time; a failure (Redis away) leaves the gauge empty and is reported. */
export function watchQueueDepth(read: () => Promise<Record<string, Record<string, number>>>, onError: (err: unknown) => void): void {
  registries.bridge.removeSingleMetric('mrr_queue_jobs');
  new Gauge({
    name: 'mrr_queue_jobs',
    help: 'Jobs in the BullMQ queues at scrape time, by queue and state (waiting, active, delayed, prioritized, failed). Absent while Redis is unreachable.',
    labelNames: ['queue', 'state'] as const,
    registers: [registries.bridge],
    async collect() {
      this.reset();
      try {
        for (const [queue, counts] of Object.entries(await read())) {
          for (const [state, n] of Object.entries(counts)) this.set({ queue, state }, n);
        }
      } catch (err) {
        onError(err);
      }
    },
  });
}
