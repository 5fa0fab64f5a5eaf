// The outputs of one session, kept equal to what the job's records in Redis ask for: a new record
// starts an output, a removed one finishes it (a recording delivers its files and summary, a
// stream ends its destination). An output that fails is told to the room and dropped; it never
// ends the call or the other outputs. `empty` resolves when nothing is left to produce.
import type { Call } from '../call/call.ts';
import type { Config } from '../config/schema.ts';
import type { StorageSink } from '../delivery/storage-sink.ts';
import { describeError } from '../errors.ts';
import { formatDuration } from '../format.ts';
import { openDestination, type OutputRecord } from '../jobs/outputs.ts';
import type { OutputProgress, SessionJobData } from '../jobs/queues.ts';
import type { SessionContext } from '../jobs/worker.ts';
import type { Logger } from '../observability/logger.ts';
import { auditLog, auditStreamEnded, auditStreamStarted, streamTarget, type StreamAudit } from '../observability/audit.ts';
import { summaryText } from '../outputs/recording/delivery.ts';
import { RecordingOutput } from '../outputs/recording/recording-output.ts';
import { deliverTranscript, transcriptNotice } from '../outputs/recording/transcript-delivery.ts';
import { recogniserFromConfig } from '../transcripts/recogniser-from-config.ts';
import { CallStreams, streamEncodeSettings } from '../outputs/stream/call-streams.ts';
import { SharedEncoders, type EncoderLease } from '../outputs/stream/shared-encoders.ts';
import { HlsMirror } from '../outputs/stream/hls-mirror.ts';
import { parseDestination, resolveDestination } from '../outputs/stream/destination.ts';
import { TypedDestinationGuard } from '../outputs/stream/destination-guard.ts';
import type { StreamEvent, StreamKind } from '../outputs/stream/live-stream.ts';
import type { RoomNotices } from './room-notices.ts';
import type { SessionControls } from './session-controls.ts';
import { SpokenNotices } from './spoken-notices.ts';

type StreamRecord = Extract<OutputRecord, { type: 'stream' }>;

export interface SessionOutputsDeps {
  call: Call;
  config: Config;
  asToken: string;
  data: SessionJobData;
  ctx: SessionContext;
  notices: RoomNotices;
  sink: StorageSink | undefined;
  /** Pause, chapters and consent (session-controls.ts): told when the recording starts and ends. */
  controls?: SessionControls;
  log: Logger;
}

export class SessionOutputs {
  /** Resolves with who removed the last output, when none is left. */
  readonly empty: Promise<string>;
  readonly #deps: SessionOutputsDeps;
  readonly #streams: CallStreams;
  /** The call's encodes, shared by the streams and a recording of the same video settings. */
  readonly #encoders: SharedEncoders;
  readonly #active = new Map<string, OutputRecord>();
  readonly #mirrors = new Map<string, HlsMirror>();
  /** Running streams by record id, for the audit line at their end. */
  readonly #streamAudit = new Map<string, StreamAudit & { startedAt: string }>();
  #recording: RecordingOutput | undefined;
  /** Whether the running recording is to be transcribed when it ends (`!record transcript` or `transcripts.enabled`). */
  #transcribe = false;
  readonly #spoken: SpokenNotices;
  /**
   * Taken over from a worker shutting down: false until that worker's live streams stopped (an RTMP
   * ingest refuses a second publisher of a name); stream records wait in `#waitingStreams` till then.
   */
  #streamsFree: boolean;
  readonly #waitingStreams = new Set<string>();
  /** The encodes the waiting streams will take, started already so that only the ingest's connection is left when they may publish. */
  readonly #warmEncodes: EncoderLease[] = [];
  /** Streams started by a hand-over: their first `live` is no news to the room. */
  readonly #quietLive = new Set<string>();
  /** Handed over: this worker's streams stopped for the successor's and start no more. */
  #streamsGivenAway = false;
  #markEmpty!: (by: string) => void;
  /** Outputs that failed for good in this session (a recording on a full disk): their records do not start them again. */
  readonly #failed = new Set<string>();
  #queue: Promise<void> = Promise.resolve();

  constructor(deps: SessionOutputsDeps) {
    this.#deps = deps;
    this.empty = new Promise((resolve) => (this.#markEmpty = resolve));
    this.#spoken = new SpokenNotices(deps.call, deps.config.voice, deps.notices, deps.log);
    // Taken over from a worker shutting down: the call heard what is produced already.
    if (deps.ctx.handover) this.#spoken.assumeSaid(['recording', 'stream']);
    this.#encoders = SharedEncoders.forCall(deps.call, deps.config.recording.ffmpegPath, deps.log);
    this.#streams = new CallStreams(deps.call, deps.config, (event, kind) => this.#onStreamEvent(event, kind), deps.log, this.#encoders);
    this.#streamsFree = !deps.ctx.handover;
    if (deps.ctx.handover) void deps.ctx.handover.streamsFree().then(() => this.#startWaitingStreams());
  }

  /** Starts what is new, finishes what is gone; changes apply one at a time, in order. */
  reconcile(records: OutputRecord[], by: string): Promise<void> {
    const run = this.#queue.then(() => this.#reconcile(records, by));
    this.#queue = run.catch((err: unknown) => this.#deps.log.error({ err }, 'changing the outputs failed'));
    return run;
  }

  async #reconcile(records: OutputRecord[], by: string): Promise<void> {
    const wanted = new Map(records.map((r) => [r.id, r]));
    for (const [id, record] of this.#active) if (!wanted.has(id)) await this.#finish(record, `stopped by ${by}`);
    for (const record of records) if (!this.#active.has(record.id) && !this.#failed.has(record.id)) await this.#start(record);
    if (this.#active.size === 0) this.#markEmpty(by);
    else {
      const kinds = new Set([...this.#active.values()].map((r) => r.type));
      void this.#deps.call.announce([...kinds]);
      this.#spoken.update(kinds);
    }
  }

  async #start(record: OutputRecord): Promise<void> {
    if (record.type === 'stream' && this.#streamsGivenAway) {
      this.#deps.log.info({ output: record.id }, 'a stream added while handing the session over is started by the successor');
      return;
    }
    if (record.type === 'stream' && !this.#streamsFree) {
      // The previous worker still publishes to this destination: this one takes over once it stopped.
      this.#active.set(record.id, record);
      this.#waitingStreams.add(record.id);
      this.#quietLive.add(streamName(record));
      const { call, config } = this.#deps;
      if (record.kind === 'audio' || call.video) this.#warmEncodes.push(this.#encoders.lease(streamEncodeSettings(config, record.kind === 'video' ? call.video?.format : undefined)));
      this.#deps.log.info({ output: record.id }, 'taking a stream over: it starts once the previous worker stopped it');
      return;
    }
    try {
      if (record.type === 'recording') await this.#startRecording(record);
      else await this.#startStream(record);
      this.#active.set(record.id, record);
    } catch (err) {
      this.#deps.log.error({ err, output: record.id }, 'an output could not start');
      const what = record.type === 'recording' ? 'the recording' : `streaming to ${record.label}`;
      await this.#deps.notices.send(`I could not start ${what}: ${describeError(err)}`);
    }
  }

  async #startRecording(record: Extract<OutputRecord, { type: 'recording' }>): Promise<void> {
    const { call, ctx, data, config, notices } = this.#deps;
    const recording = new RecordingOutput(
      call,
      { ...ctx, roomId: data.roomId, requestedBy: record.requestedBy, kind: record.kind, tell: (text) => void notices.send(text), failed: (reason) => void this.#recordingFailed(record.id, reason) },
      config,
      this.#deps.log,
      this.#encoders,
    );
    await recording.start();
    this.#recording = recording;
    this.#transcribe = record.transcript === true || config.transcripts.enabled;
    if (this.#transcribe) {
      // A recogniser the config cannot make is told now, not after the call.
      try {
        recogniserFromConfig(config);
      } catch (err) {
        this.#transcribe = false;
        await notices.send(`This recording will have no transcript: ${describeError(err)}`);
      }
    }
    if (ctx.handover) {
      // A hand-over (rolling deploy) goes unannounced: the recording goes on without a gap.
      await this.#deps.controls?.recordingStarted(recording);
      return;
    }
    const consent = this.#deps.controls ? ` ${this.#deps.controls.consentSentence()}` : '';
    await notices.send(
      ctx.attempt === 0
        ? `Recording started by ${record.requestedBy}. I am in the call as ${call.own.userId} and record the call; type !stop to end, !pause to pause.${consent}`
        : `Recording resumed: the worker recording this call stopped unexpectedly, so I rejoined and record on in a new segment (${ctx.attempt + 1}). Type !stop to end.${consent}`,
    );
    await this.#deps.controls?.recordingStarted(recording, ctx.attempt === 0 ? 'start notice' : 'recovery notice');
  }

  async #startStream(record: StreamRecord): Promise<void> {
    const { config, asToken, sink, ctx, data, log } = this.#deps;
    const resolved = record.sealedUrl
      ? { destination: parseDestination(openDestination(record.sealedUrl, asToken)), typed: true }
      : resolveDestination(record.destination, config.streaming, `${ctx.jobId}`);
    const destination = resolved.destination;
    // Checked again here: the name may resolve elsewhere now than when the command was read.
    if (resolved.typed) await new TypedDestinationGuard(config.streaming.allowedHosts).admit(destination);
    this.#streams.add(record.kind, destination);
    this.#auditStreamStart(record.id, {
      requestedBy: record.requestedBy,
      kind: record.kind,
      // A typed URL is named by scheme and host only: its path may hold the stream key.
      ...(record.sealedUrl ? {} : { destination: record.destination }),
      target: streamTarget(destination),
    });
    if (destination.kind === 'hls' && sink) {
      // The archive gets the live stream too, beside the recordings: a folder of its own per session.
      const mirror = new HlsMirror({ directory: destination.directory, sink, facts: { roomId: data.roomId, sessionId: `${ctx.jobId}-hls`, startedAt: Date.now() }, log });
      mirror.start(Math.max(500, (destination.segmentSeconds * 1000) / 2));
      this.#mirrors.set(record.id, mirror);
    }
  }

  /** The previous worker stopped its streams: the ones this worker took over start now, in order with other changes. */
  #startWaitingStreams(): Promise<void> {
    const run = this.#queue.then(async () => {
      this.#streamsFree = true;
      for (const id of [...this.#waitingStreams]) {
        this.#waitingStreams.delete(id);
        const record = this.#active.get(id);
        if (record?.type !== 'stream') continue; // removed meanwhile
        this.#active.delete(id);
        await this.#start(record);
        if (!this.#active.has(id)) this.#quietLive.delete(streamName(record));
        this.#deps.log.info({ output: id }, 'took a stream over from the previous worker');
      }
      // The streams hold their own leases of these encodes now.
      await Promise.all(this.#warmEncodes.splice(0).map((lease) => lease.release()));
      if (this.#active.size === 0) this.#markEmpty('a failed stream');
    });
    this.#queue = run.catch((err: unknown) => this.#deps.log.error({ err }, 'starting the streams taken over failed'));
    return this.#queue;
  }

  /**
   * Handing the session over: the live streams stop now, before this segment's files close, so the
   * successor can publish to the same names (an RTMP ingest takes one publisher each) with the
   * shortest gap. Nothing is told to the room: the successor's stream carries on quietly.
   */
  async releaseStreams(): Promise<void> {
    await this.#queue;
    this.#streamsGivenAway = true;
    await this.#streams.stopAll();
  }

  async #finish(record: OutputRecord, endReason: string): Promise<void> {
    this.#active.delete(record.id);
    this.#waitingStreams.delete(record.id);
    if (record.type === 'stream') {
      await this.#streams.remove(record.kind, streamName(record));
      await this.#stopMirror(record.id);
      this.#auditStreamEnd(record.id, endReason);
      await this.#deps.notices.send(`Stopped streaming to ${record.label} (${endReason}).`);
      return;
    }
    await this.#finishRecording(endReason);
  }

  async #stopMirror(id: string): Promise<void> {
    const mirror = this.#mirrors.get(id);
    this.#mirrors.delete(id);
    await mirror?.stop();
  }

  /** Closes the files and delivers them; with the call over, its clocks must have been played out first. */
  async #finishRecording(endReason: string, failure?: unknown): Promise<void> {
    const recording = this.#recording;
    if (!recording) return;
    this.#recording = undefined;
    this.#deps.controls?.recordingFinished();
    const finished = await recording.finish();
    const report = await recording.deliver(finished, endReason, this.#deps.sink, this.#deps.controls?.ledger());
    if (failure === undefined) await this.#deps.notices.send(summaryText(endReason, report));
    if (this.#transcribe && failure === undefined) await this.#deliverTranscript(recording, report);
  }

  /** After the recording is delivered: its transcript follows, so the files never wait for speech recognition. */
  async #deliverTranscript(recording: RecordingOutput, report: Awaited<ReturnType<RecordingOutput['deliver']>>): Promise<void> {
    const { call, config, sink, notices, log } = this.#deps;
    try {
      const transcript = await deliverTranscript({
        dir: recording.dir,
        segment: report.manifest.segments.at(-1)!.index,
        manifest: report.manifest,
        manifestPath: report.manifestPath,
        recogniser: recogniserFromConfig(config),
        roomName: call.roomName,
        ...(config.recording.uploadToRoom ? { upload: call.uploader } : {}),
        ...(sink ? { sink } : {}),
        log,
      });
      await notices.send(transcriptNotice(transcript));
    } catch (err) {
      log.error({ err }, 'the transcript could not be made');
      await notices.send(`I could not transcribe the recording: ${describeError(err)}`);
    }
  }

  /** Ends everything at the end of the session (the call is already hung up). */
  async finishAll(endReason: string, failure?: unknown): Promise<void> {
    await this.#queue;
    const streams = [...this.#active.values()].flatMap((r) => (r.type === 'stream' ? [r.label] : []));
    await this.#streams.stopAll();
    for (const id of [...this.#mirrors.keys()]) await this.#stopMirror(id);
    for (const id of [...this.#streamAudit.keys()]) this.#auditStreamEnd(id, endReason);
    if (streams.length > 0) await this.#deps.notices.send(`Stopped streaming to ${streams.join(', ')} (${endReason}).`);
    await this.#finishRecording(endReason, failure);
    this.#active.clear();
  }

  /**
   * The job is another worker's now (this one lost its lock): the files written so far are closed
   * so they stay playable, but nothing is delivered, announced or cleaned up; the worker holding
   * the job lists this segment in its manifest and tells the room.
   */
  async abandon(): Promise<void> {
    await this.#queue;
    this.#active.clear();
    await this.#streams.stopAll();
    for (const id of [...this.#mirrors.keys()]) await this.#stopMirror(id);
    const recording = this.#recording;
    this.#recording = undefined;
    if (recording) await recording.finish();
  }

  /** Taken over from a worker shutting down: the recording's files take over from that worker's at wall-clock `at`. */
  tookOver(at: number): void {
    this.#recording?.tookOverAt(at);
  }

  /** Handed over to another worker: the recording's files give way to its files at wall-clock `at` (unknown: undefined). */
  handOver(at: number | undefined): void {
    this.#recording?.handOverAt(at);
  }

  /** Bytes the recording has written (for !status). */
  recordingBytes(): number | undefined {
    return this.#recording?.bytes();
  }

  progress(): OutputProgress[] {
    const recording: OutputProgress[] = [...this.#active.values()]
      .filter((r) => r.type === 'recording')
      .map((r) => ({ id: r.id, label: `recording (${r.kind}${this.#transcribe ? ', with a transcript' : ''})`, state: 'recording' }));
    const labels = new Map([...this.#active.values()].flatMap((r) => (r.type === 'stream' ? [[streamName(r), r.label] as const] : [])));
    return [...recording, ...this.#streams.progress((kind, name) => `stream to ${labels.get(name) ?? name} (${kind})`)];
  }

  #auditStreamStart(id: string, entry: StreamAudit): void {
    const started = { ...entry, startedAt: new Date().toISOString() };
    this.#streamAudit.set(id, started);
    auditStreamStarted(auditLog(this.#deps.log), started);
  }

  #auditStreamEnd(id: string, endReason: string): void {
    const started = this.#streamAudit.get(id);
    if (!started) return; // never started, or its end was already written
    this.#streamAudit.delete(id);
    auditStreamEnded(auditLog(this.#deps.log), { ...started, endedAt: new Date().toISOString(), endReason });
  }

  #onStreamEvent(event: StreamEvent, kind: StreamKind): void {
    const { notices, log } = this.#deps;
    log.info({ event: event.type, destination: event.printable, kind }, 'stream event');
    if (event.type === 'failed') {
      this.#auditStreamEnd(`stream:${event.name}`, `failed: ${event.reason}`);
      void this.#dropFailedStream(`stream:${event.name}`, kind, event.name);
    }
    if (event.type === 'live' && this.#quietLive.delete(event.name)) {
      log.info({ destination: event.printable, kind }, 'stream taken over from the previous worker is live');
      return;
    }
    const text =
      event.type === 'live'
        ? `Streaming the call (${kind}) to ${event.printable}.`
        : event.type === 'down'
          ? `The stream to ${event.printable} is down (${event.reason.replace(/\.+$/, '')}); I keep trying to reconnect.`
          : event.type === 'back'
            ? `The stream to ${event.printable} is back, after ${formatDuration(event.downForMs)}.`
            : `I gave up streaming to ${event.printable}: ${event.reason.replace(/\.+$/, '')}.`;
    void notices.send(text);
  }

  /** A recording that cannot go on (a full disk) is finished and delivered now; a session left with nothing to do ends. */
  #recordingFailed(id: string, reason: string): Promise<void> {
    const run = this.#queue.then(async () => {
      if (!this.#active.delete(id)) return;
      this.#failed.add(id);
      await this.#finishRecording(reason);
      if (this.#active.size === 0) this.#markEmpty(reason);
    });
    this.#queue = run.catch((err: unknown) => this.#deps.log.error({ err }, 'ending a failed recording failed'));
    return this.#queue;
  }

  /** A destination given up is no output any more: a session left with nothing to do ends. */
  async #dropFailedStream(id: string, kind: StreamKind, name: string): Promise<void> {
    const run = this.#queue.then(async () => {
      if (!this.#active.delete(id)) return;
      await this.#streams.remove(kind, name);
      if (this.#active.size === 0) this.#markEmpty('a failed stream');
    });
    this.#queue = run.catch((err: unknown) => this.#deps.log.error({ err }, 'dropping a failed stream failed'));
    await this.#queue;
  }
}

/** The destination's name inside its LiveStream: the configured name, or the printable URL. */
export const streamName = (record: StreamRecord) => record.id.slice('stream:'.length);
