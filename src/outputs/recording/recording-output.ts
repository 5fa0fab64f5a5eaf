// The recording as one output of a call: the audio files (mix and stems) from the call's shared
// clock, the composite video from the call's shared picture when asked for, who was in the call
// when, and the segment record kept current in Redis so that a worker recovering the job after a
// crash can describe this segment. Finishing delivers the files (manifest, archive, room).
import { readdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import type { Call, OwnSfuEvent } from '../../call/call.ts';
import type { Config } from '../../config/schema.ts';
import type { StorageSink } from '../../delivery/storage-sink.ts';
import type { RecordingKind, SegmentRecord } from '../../jobs/queues.ts';
import { formatDuration, nameWithId } from '../../format.ts';
import { safeFileLabel } from '../../media/recording/file-names.ts';
import type { ConsentLedger, MediaGap } from '../../media/recording/manifest.ts';
import { CHUNK_MS } from '../../media/recording/audio-timeline.ts';
import { fileOffsetAt } from '../../media/recording/handover-cut.ts';
import type { Logger } from '../../observability/logger.ts';
import { auditLog, auditRecordingEnded, auditRecordingStarted, safeLocation } from '../../observability/audit.ts';
import { recordingBytes } from '../../observability/metrics.ts';
import { retentionNote } from './retention.ts';
import { AudioFiles, type AudioRecording } from './audio-files.ts';
import { CompositeFile, type VideoResult } from './composite-file.ts';
import { SharedCompositeFile } from './shared-composite-file.ts';
import type { SharedEncoders } from '../stream/shared-encoders.ts';
import { streamEncodeSettings } from '../stream/call-streams.ts';
import { deliverRecording, type DeliveryReport } from './delivery.ts';
import { describeEarlierSegments, type EarlierSegments } from './earlier-segments.ts';
import { alignHandoverCut } from './handover-align.ts';
import { tagFiles } from './file-tags.ts';
import { ParticipantLog } from './participant-log.ts';
import { STOPPING_REDIS_LIMIT_MS, within } from '../../time-limit.ts';
import type { PartEvent } from './parted-output.ts';

export interface RecordingJob {
  roomId: string;
  jobId: string;
  /** 0 for the first run; higher for a job recovered after its worker died. */
  recovery: number;
  /** This attempt's fencing token: the segment's index and folder, never shared with another worker's attempt. */
  attempt: number;
  /** True once another worker may hold the job (SessionContext.lockLost): nothing more is written. */
  lockLost?(): boolean;
  requestedBy: string;
  kind: RecordingKind;
  segments: { put(segment: SegmentRecord): Promise<void>; all(): Promise<SegmentRecord[]> };
  /** Says something in the room (a file's encoder died, the disk is full). */
  tell?(text: string): void;
  /** The recording cannot go on (a full disk): the session finishes and delivers it. */
  failed?(reason: string): void;
  /** Set when this attempt took the session over from a worker shutting down (SessionContext.handover). */
  handover?: { released(): Promise<void> };
}

export interface FinishedRecording {
  recording: AudioRecording;
  video?: VideoResult;
  /** Files whose names and chapters could not be written into them (they are kept without). */
  problems: string[];
}

export class RecordingOutput {
  readonly dir: string;
  readonly #call: Call;
  readonly #job: RecordingJob;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #audio: AudioFiles;
  readonly #video: CompositeFile | SharedCompositeFile | undefined;
  readonly #worker = `${hostname()}:${process.pid}`;
  #participants: ParticipantLog | undefined;
  #offMembers: (() => void) | undefined;
  /** Took over from a worker shutting down: where this segment's files take over from that worker's. */
  #playFromMs: number | undefined;
  /** Handed over to another worker: where this segment's files give way to its files (and when they were closed). */
  #handedOver: { playUntilMs?: number; endedAt?: string } | undefined;

  /** `encoders`: the call's shared encoders; with `recording.shareVideoEncoder` the composite video takes its picture from there. */
  constructor(call: Call, job: RecordingJob, config: Config, log: Logger, encoders?: SharedEncoders) {
    this.#call = call;
    this.#job = job;
    this.#config = config;
    this.#log = log.child({ output: 'recording' });
    this.dir = join(config.recording.outputDir, safeFileLabel(job.roomId), job.jobId, `segment-${job.attempt}`);
    if (job.kind === 'video' && !call.video) throw new Error('a video recording needs a call joined with video');
    const skip = () => call.mediaPolicy.current.paused;
    this.#video =
      job.kind !== 'video'
        ? undefined
        : config.recording.shareVideoEncoder && encoders
          ? new SharedCompositeFile({ dir: this.dir, ffmpegPath: config.recording.ffmpegPath, encoders, settings: streamEncodeSettings(config, call.video!.format), skip, log: this.#log })
          : new CompositeFile({ dir: this.dir, ffmpegPath: config.recording.ffmpegPath, video: call.video!, skip, log: this.#log });
    const video = this.#video;
    this.#audio = new AudioFiles({
      dir: this.dir,
      ffmpegPath: config.recording.ffmpegPath,
      log: this.#log,
      // A recovering worker must know whose voice each stem holds as soon as the file exists.
      onStem: () => void this.#recordSegment(),
      // A worker woken from a pause catches its clock up before the lock check runs; none of that goes into the files.
      keepWriting: () => !(job.lockLost?.() ?? false),
      onPartEvent: (event) => this.#onPartEvent(event),
      ...(video ? { onMixed: (chunk: Int16Array) => video.writeAudio(chunk) } : {}),
    });
  }

  #diskFull = false;
  /** Spans without the call's media (our SFU connection was gone), as offsets in the files. */
  readonly #gaps: MediaGap[] = [];
  #openGap: { fromMs: number; reason: string } | undefined;
  #offSfu: (() => void) | undefined;

  #onOwnSfu(event: OwnSfuEvent): void {
    if (event.type === 'lost') this.#openGap ??= { fromMs: this.#audio.writtenMs, reason: `the connection to the call's SFU was lost (${event.reason})` };
    else this.#closeGap();
  }

  #closeGap(): void {
    if (!this.#openGap) return;
    this.#gaps.push({ ...this.#openGap, toMs: this.#audio.writtenMs });
    this.#openGap = undefined;
  }

  /** A file's ffmpeg died (parted-output.ts): the room hears what happened to which file, never a path. */
  #onPartEvent(event: PartEvent): void {
    if (event.type === 'continued') {
      this.#job.tell?.(
        `The encoder writing ${event.file} stopped unexpectedly; that file goes on in a new part, ${event.part}, from ${formatDuration(event.offsetMs)}. ` +
          'Files of the recording that another encoder writes are not affected.',
      );
    } else if (event.type === 'gave-up') {
      this.#job.tell?.(`The encoder writing ${event.file} keeps stopping, so I stopped writing that file at ${formatDuration(event.atMs)}. The other files go on.`);
    } else if (!this.#diskFull) {
      // Every file stops at once on a full disk: one sentence for all of them.
      this.#diskFull = true;
      this.#job.tell?.(
        `I cannot record any more: the disk the recording is saved to is full (after ${formatDuration(event.atMs)} of recording). ` +
          'What was written before is kept and plays; I end the recording now and deliver it. Ask the operator to free space before recording again.',
      );
      this.#job.failed?.('the recording disk is full');
    }
  }

  /** Starts writing from the call's next tick and frame. */
  async start(): Promise<void> {
    this.#audio.attach(this.#call.audio);
    this.#video?.start();
    const participants = new ParticipantLog(this.#audio.startedAt);
    this.#participants = participants;
    participants.update(this.#call.members());
    this.#offSfu = this.#call.onOwnSfu((event) => this.#onOwnSfu(event));
    this.#offMembers = this.#call.onMembers((members) => {
      participants.update(members);
      void this.#recordSegment();
    });
    await this.#recordSegment();
    auditRecordingStarted(auditLog(this.#log), { ...this.#auditFacts(), startedAt: new Date(this.#audio.startedAt).toISOString() });
  }

  #auditFacts() {
    return { requestedBy: this.#job.requestedBy, kind: this.#job.kind, segment: this.#job.attempt, directory: this.dir };
  }

  /** A chapter at the moment `at` (wall clock) was heard. */
  mark(title: string, at: number): void {
    this.#audio.mark(title, at);
  }

  /** Who was in the call while this segment recorded. */
  participantIds(): string[] {
    return this.#participants?.userIds() ?? [];
  }

  /** Bytes written so far (all files of this segment). */
  bytes(): number {
    const total = readdirSync(this.dir).reduce((sum, name) => sum + statSync(join(this.dir, name)).size, 0);
    recordingBytes(this.dir, total);
    return total;
  }

  /** Where wall-clock time `at` lies in this segment's files (the clock writes what was heard, in order). */
  #offsetAt(at: number): number {
    const audio = this.#call.audio;
    return fileOffsetAt(at, this.#audio.writtenMs, audio.startedAt + audio.nextIndex * CHUNK_MS);
  }

  /** This segment took the session over from a worker shutting down; its files play from wall-clock `at`. */
  tookOverAt(at: number): void {
    this.#playFromMs = this.#offsetAt(at);
    this.#log.info({ playFromMs: this.#playFromMs }, 'took the recording over: the files play from here');
    void this.#recordSegment();
  }

  /** This segment is handed over to another worker; its files play up to wall-clock `at` (unknown: to their end). Before finish(). */
  handOverAt(at: number | undefined): void {
    this.#handedOver = at === undefined ? {} : { playUntilMs: this.#offsetAt(at) };
    this.#log.info({ playUntilMs: this.#handedOver.playUntilMs }, 'handed the recording over: the files play up to here');
  }

  /** Kept current in Redis, so that a worker recovering this job after a crash can describe this segment. */
  #recordSegment(): Promise<void> {
    return this.#job.segments
      .put({
        index: this.#job.attempt,
        startedAt: new Date(this.#audio.startedAt).toISOString(),
        worker: this.#worker,
        dir: this.dir,
        participants: this.#participants?.spans() ?? [],
        stems: this.#audio.stemFiles.map(({ path, speaker }) => ({ file: basename(path), ...(speaker.userId ? { userId: speaker.userId } : {}), ...(speaker.deviceId ? { deviceId: speaker.deviceId } : {}) })),
        ...(this.#playFromMs !== undefined ? { playFromMs: this.#playFromMs } : {}),
        ...(this.#handedOver?.playUntilMs !== undefined ? { playUntilMs: this.#handedOver.playUntilMs } : {}),
        ...(this.#handedOver?.endedAt ? { endedAt: this.#handedOver.endedAt } : {}),
      })
      .catch((err: unknown) => this.#log.warn({ err }, 'could not record the segment in Redis; a recovery would list it with less detail'));
  }

  /**
   * The records of earlier attempts' segments. The first attempt has none and does not ask Redis,
   * so a Redis outage while it ends cannot hold up its delivery; a later one waits a bounded time.
   */
  async #earlierRecords(): Promise<SegmentRecord[]> {
    if (this.#job.attempt === 0) return [];
    // The worker that handed the session over closes its files first.
    await this.#job.handover?.released();
    try {
      return await within(this.#job.segments.all(), STOPPING_REDIS_LIMIT_MS, 'reading the earlier segments from Redis');
    } catch (err) {
      this.#log.error({ err }, 'the manifest cannot list the earlier segments of this session (Redis did not answer); their folders stay beside this one');
      return [];
    }
  }

  /** Closes every file (the call's clocks must have been played out first). */
  async finish(): Promise<FinishedRecording> {
    this.#offMembers?.();
    this.#offSfu?.();
    this.#participants?.update([]);
    const recording = await this.#audio.finish();
    this.#closeGap(); // still without media at the end: the gap runs to the end
    const video = await this.#video?.finish(recording.durationMs);
    const problems = await this.#tagFiles(recording, video);
    if (this.#handedOver) {
      // The successor lists this segment (closed, not cut by a crash) in its manifest and delivers its files.
      this.#handedOver.endedAt = new Date(recording.endedAt).toISOString();
      await this.#recordSegment();
    }
    this.#log.info({ durationMs: recording.durationMs, mixed: recording.mixed, stems: recording.stems, chapters: recording.chapters.length }, 'recording finished');
    return { recording, ...(video ? { video } : {}), problems };
  }

  /** Names (as the room shows them, with Matrix IDs) and chapters, written into each file. */
  async #tagFiles(recording: AudioRecording, video: VideoResult | undefined): Promise<string[]> {
    const call = this.#call;
    const room = call.roomName;
    const everyone = (this.#participants?.userIds() ?? []).map((id) => nameWithId(call.displayName(id), id)).join(', ');
    const common = { ALBUM: room, DATE: new Date(recording.startedAt).toISOString(), COMMENT: `Call in ${room} (${this.#job.roomId}), recorded by ${call.own.userId}; paused spans are left out.` };
    const files = [
      ...(video ? [{ file: video, tags: { ...common, TITLE: `${room}: the call (video)`, ARTIST: everyone } }] : []),
      { file: recording.mixed, tags: { ...common, TITLE: `${room}: everyone (mixed)`, ARTIST: everyone } },
      ...recording.stems.map((stem) => {
        const { userId, deviceId } = stem.speaker;
        const tags = userId
          ? { ...common, TITLE: nameWithId(call.displayName(userId), userId), ARTIST: call.displayName(userId), MATRIX_USER_ID: userId, ...(deviceId ? { MATRIX_DEVICE_ID: deviceId } : {}) }
          : { ...common, TITLE: stem.speaker.key };
        return { file: stem, tags };
      }),
    ];
    const written = files.filter(({ file }) => !file.error).map(({ file, tags }) => ({ path: file.path, tags, durationMs: file.durationMs }));
    const errors = await tagFiles(written, { chapters: recording.chapters, ffmpegPath: this.#config.recording.ffmpegPath, log: this.#log });
    return written.flatMap((file, i) => {
      const error = errors[i];
      if (error === undefined) return [];
      this.#log.error({ err: error, file: file.path }, 'could not write names and chapters into a file; it is kept without them');
      return [`${basename(file.path)} has no names or chapters in it (${error})`];
    });
  }

  /** The manifest, the archive copy and the room upload; what was recorded is delivered even after a failure. */
  async deliver(finished: FinishedRecording, endReason: string, sink: StorageSink | undefined, consent?: ConsentLedger): Promise<DeliveryReport> {
    const { recording, video } = finished;
    const startedAt = new Date(recording.startedAt).toISOString();
    // Wall clock: with pauses the files are shorter than the time between start and end.
    const endedAt = new Date(recording.endedAt).toISOString();
    const earlier = await describeEarlierSegments(await this.#earlierRecords(), this.#job.attempt, this.#log);
    const playFromMs = await this.#alignedCut(earlier, recording.mixed.path);
    const report = await deliverRecording({
      dir: this.dir,
      recording,
      manifest: { version: 1, roomId: this.#job.roomId, sessionId: this.#job.jobId, requestedBy: this.#job.requestedBy, kind: this.#job.kind, startedAt, endedAt, endReason, retention: retentionNote(this.#config.recording.retentionDays, endedAt) },
      ...(video ? { video } : {}),
      earlier,
      segment: {
        index: this.#job.attempt,
        dir: basename(this.dir),
        startedAt,
        endedAt,
        durationMs: recording.durationMs,
        worker: this.#worker,
        participants: this.#participants?.spans() ?? [],
        ...(playFromMs !== undefined ? { playFromMs } : {}),
        ...(recording.chapters.length > 0 ? { chapters: recording.chapters } : {}),
        ...(this.#gaps.length > 0 ? { gaps: [...this.#gaps] } : {}),
      },
      displayName: (userId) => this.#call.displayName(userId),
      problems: finished.problems,
      ...(consent ? { consent } : {}),
      ...(this.#config.recording.uploadToRoom ? { upload: this.#call.uploader } : {}),
      split: { ffmpegPath: this.#config.recording.ffmpegPath, maxBytes: this.#config.recording.maxUploadBytes },
      ...(sink ? { sink } : {}),
      log: this.#log,
    });
    this.#log.info({ manifest: report.manifestPath, stored: report.stored.length, uploads: report.uploads, problems: report.problems }, 'recording delivered');
    this.#audit(report, startedAt, endedAt, endReason);
    return report;
  }

  /** A segment that took over: where its files take over, checked against the previous segment's audio when its files are here. */
  async #alignedCut(earlier: EarlierSegments, mixed: string): Promise<number | undefined> {
    const playFromMs = this.#playFromMs;
    const previous = earlier.segments.at(-1);
    if (playFromMs === undefined || previous?.playUntilMs === undefined) return playFromMs;
    const previousMixed = earlier.local.find((l) => l.file.segment === previous.index && l.file.kind === 'mixed' && l.file.offsetMs === undefined);
    if (!previousMixed) return playFromMs;
    return alignHandoverCut({ earlier: previousMixed.path, playUntilMs: previous.playUntilMs, later: mixed, playFromMs, ffmpegPath: this.#config.recording.ffmpegPath, log: this.#log });
  }

  #audit(report: DeliveryReport, startedAt: string, endedAt: string, endReason: string): void {
    const files = report.manifest.files.filter((f) => f.segment === this.#job.attempt);
    recordingBytes(this.dir, files.reduce((sum, f) => sum + f.bytes, 0), true);
    const retention = report.manifest.retention;
    auditRecordingEnded(auditLog(this.#log), {
      ...this.#auditFacts(),
      startedAt,
      endedAt,
      endReason,
      files: files.map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })),
      archivedTo: [...new Set(report.stored.map((s) => safeLocation(s.location).replace(/\/[^/]+$/, '')))],
      uploadedToRoom: { files: report.uploads.filter((u) => u.uploaded).length, of: report.uploads.length },
      ...(retention && retention.localDays !== null ? { localUntil: retention.localUntil } : {}),
    });
  }
}
