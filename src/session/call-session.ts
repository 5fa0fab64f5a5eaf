// One job: the room's session, from a queued `!record` to the summary. It joins the call (the
// Call owns membership, keys, SFU connections and the shared media), attaches the outputs the
// job asks for, waits for the first reason to end, and lets each output finish and deliver.
// Every failure ends in one plain sentence to the room and an error for the job.
import { Call, type CallEnd } from '../call/call.ts';
import type { Config } from '../config/schema.ts';
import type { Registration } from '../config/registration.ts';
import { storageSinkFromConfig } from '../delivery/sinks.ts';
import { deliverOrphanedSegments } from '../outputs/recording/orphaned-segments.ts';
import type { StorageSink } from '../delivery/storage-sink.ts';
import { describeError } from '../errors.ts';
import { formatDuration, nameWithId } from '../format.ts';
import type { NoticeQueue } from '../jobs/notices.ts';
import type { SessionJobData, SessionProgress } from '../jobs/queues.ts';
import { HandedOver, StopReason, type SessionContext } from '../jobs/worker.ts';
import type { Logger } from '../observability/logger.ts';
import { joinLatency, sessionEnded } from '../observability/metrics.ts';
import type { OutputRecord } from '../jobs/outputs.ts';
import { SessionOutputs } from './session-outputs.ts';
import { STOPPING_REDIS_LIMIT_MS, within } from '../time-limit.ts';
import { SessionControls } from './session-controls.ts';
import { RoomNotices } from './room-notices.ts';

export interface CallSessionDeps {
  config: Config;
  registration: Registration;
  log: Logger;
  /** Where the session's messages to the room go (the bridge sends them, encrypted where needed). */
  notices: Pick<NoticeQueue, 'add'>;
}

/** Why a session ended, as told to the room. */
type EndReason = CallEnd | { kind: 'stopped'; by: string } | { kind: 'shutdown' } | { kind: 'max-duration'; ms: number };

const describeEnd = (end: EndReason): string => {
  switch (end.kind) {
    case 'stopped':
      return `stopped by ${end.by}`;
    case 'shutdown':
      return 'the worker is shutting down';
    case 'call-ended':
      return 'nobody else is left in the call';
    case 'removed':
      return 'my call membership was removed, or I was removed from the room';
    case 'max-duration':
      return `the maximum duration of ${formatDuration(end.ms)} was reached`;
    case 'failed':
      return describeError(end.error);
  }
};

export class CallSession {
  readonly #deps: CallSessionDeps;
  readonly #data: SessionJobData;
  readonly #ctx: SessionContext;
  readonly #log: Logger;
  readonly #notices: RoomNotices;
  readonly #sink: StorageSink | undefined;
  #progress: SessionProgress = { phase: 'queued' };
  /** Whether the outputs came from their records in Redis (then they are read again after joining). */
  #outputsFromRedis = false;
  /** Who changed the outputs while the bot was joining the call, if anyone. */
  #changedWhileJoining: string | undefined;
  #endCounted = false;
  /** Whether this attempt got into the call (and so delivers the earlier segments with its own). */
  #joined = false;
  /** What join latency is measured from: the request, or (recovered job) when this worker took it up. */
  readonly #latencyFrom: { at: number; from: 'request' | 'recovery' };

  constructor(deps: CallSessionDeps, data: SessionJobData, ctx: SessionContext) {
    this.#deps = deps;
    this.#data = data;
    this.#ctx = ctx;
    this.#log = ctx.log.child({ module: 'call-session' });
    const { config } = deps;
    this.#sink = storageSinkFromConfig(config.storage, this.#log);
    this.#notices = new RoomNotices(deps.notices, data.roomId, data.requestEventId, this.#log);
    this.#latencyFrom = ctx.recovery === 0 ? { at: data.requestedAt, from: 'request' } : { at: Date.now(), from: 'recovery' };
  }

  async run(): Promise<void> {
    try {
      await this.#run();
      await this.#deliverIfRecordedNothing();
    } catch (err) {
      if (!this.#endCounted) sessionEnded('join-failed');
      this.#endCounted = true;
      this.#log.error({ err }, 'session failed');
      // A worker that lost the job (or handed it over) leaves the room to its successor, which is recording on.
      const owner = await this.#ctx.settleOwnership().catch((settleErr: unknown) => {
        this.#log.error({ err: settleErr }, 'could not settle who ends the session; leaving it');
        return 'lost' as const;
      });
      if (owner === 'mine') {
        const recovered = !this.#joined && (this.#ctx.recovery > 0 || this.#ctx.handover !== undefined);
        const orphans = recovered ? await this.#deliverOrphanedSegments(err) : undefined;
        // "Start the call first, then type !record" does not fit a call that ended while the recording's worker was gone.
        const why = recovered && (err as { errcode?: string }).errcode === 'MRR_NO_CALL' ? 'the call ended while no worker held the recording, so it is not taken up again.' : describeError(err);
        await this.#notices.send(`I could not record this call: ${why}${orphans ? `\n${orphans}` : ''}`);
      }
      throw err;
    }
  }

  /**
   * A recovered session whose recording was stopped while no worker held it joins, records
   * nothing and ends: its predecessors' segments are delivered here, as no recording output will.
   */
  async #deliverIfRecordedNothing(): Promise<void> {
    if ((this.#ctx.recovery === 0 && !this.#ctx.handover) || this.#ctx.lockLost()) return;
    let records;
    try {
      records = await this.#ctx.segments.all();
    } catch (err) {
      this.#log.error({ err }, 'could not read the earlier segments to deliver them');
      await this.#notices.send(`The segments recorded before the recording's worker stopped could not be delivered: ${describeError(err)}`);
      return;
    }
    if (records.length === 0 || records.some((r) => r.index === this.#ctx.attempt)) return;
    const note = await this.#deliverOrphanedSegments('stopped while no worker held the recording');
    if (note) await this.#notices.send(note);
  }

  /** A recovered session that recorded nothing itself: its predecessors' segments are archived all the same. */
  async #deliverOrphanedSegments(why: unknown): Promise<string | undefined> {
    try {
      // The worker that handed the session over closes its files first.
      await this.#ctx.handover?.released();
      return await deliverOrphanedSegments({
        records: await this.#ctx.segments.all(),
        manifest: { roomId: this.#data.roomId, sessionId: this.#ctx.jobId, requestedBy: this.#data.requestedBy, kind: this.#data.kind, endReason: typeof why === 'string' ? why : `not taken up again: ${describeError(why)}` },
        sink: this.#sink,
        log: this.#log,
      });
    } catch (deliveryErr) {
      this.#log.error({ err: deliveryErr }, 'could not deliver the segments recorded before the recovery');
      return `The segments recorded before the recording's worker stopped could not be delivered: ${describeError(deliveryErr)}`;
    }
  }

  async #run(): Promise<void> {
    const { config, registration } = this.#deps;
    await this.#report({ phase: 'joining' });
    const records = await this.#initialOutputs();
    // A !stop while the bot joins removes the output and nudges a listener that #serve has not
    // set up yet: who changed the outputs is remembered here, and #serve reads them again.
    const offJoining = this.#ctx.outputs.onChange((by) => (this.#changedWhileJoining = by));
    const call = await Call.join(
      { config, registration, notices: this.#notices, log: this.#log },
      { roomId: this.#data.roomId, requestedBy: this.#data.requestedBy, requestedAt: this.#data.requestedAt, video: records.some((r) => r.kind === 'video') },
    );
    this.#joined = true;
    try {
      await this.#serve(call, records, offJoining);
    } finally {
      offJoining();
      // The call user leaves the room it no longer records, unless another worker records it now.
      await call.close({ leaveRoom: !this.#ctx.lockLost() });
    }
  }

  /** Runs the outputs on the call until the first reason to end, then finishes them. */
  async #serve(call: Call, records: OutputRecord[], offJoining: () => void): Promise<void> {
    const { config, registration } = this.#deps;
    const reportCall = () => void this.#report(this.#callProgress(call, controls)).catch((err: unknown) => this.#log.warn({ err }, 'progress report failed'));
    const joinerNotice = config.voice.enabled && config.voice.tellJoiners ? config.voice.recordingNotice : undefined;
    const controls = new SessionControls({ call, controls: this.#ctx.controls, notices: this.#notices, log: this.#log, onChange: reportCall, ...(joinerNotice ? { joinerNotice } : {}) });
    // Before any output starts: a recovered session that was paused, or a room that requires consent, records nothing it must not.
    await controls.start();
    const outputs = new SessionOutputs({ call, config, asToken: registration.as_token, data: this.#data, ctx: this.#ctx, notices: this.#notices, sink: this.#sink, log: this.#log, controls });
    const offChange = this.#ctx.outputs.onChange((by) => void this.#ctx.outputs.list().then((current) => outputs.reconcile(current, by)));
    offJoining();
    const offMembers = call.onMembers(reportCall);
    const takeover = this.#ctx.handover ? this.#takeover(outputs) : undefined;
    this.#ctx.onSuccessorRecording?.(() => outputs.releaseStreams());
    // !status shows each output's state and how much has been written so far.
    const progress = setInterval(() => void this.#reportOutputs(outputs), 5_000);
    let end: EndReason;
    try {
      // What the outputs are now, not when the job started: nothing starts (no "Recording started")
      // after a stop that came while joining.
      const current = this.#ctx.signal.aborted ? [] : this.#outputsFromRedis ? await this.#ctx.outputs.list() : records;
      if (current.length === 0) this.#log.info({ by: this.#changedWhileJoining ?? (this.#ctx.signal.reason as Error | undefined)?.message }, 'stopped while joining: nothing is started');
      await outputs.reconcile(current, this.#changedWhileJoining ?? this.#data.requestedBy);
      await this.#report({ phase: 'in-call', joinedAt: Date.now(), ...this.#callProgress(call, controls) });
      const { at, from } = this.#latencyFrom;
      joinLatency('joined', from, Date.now() - at);
      void call.firstAudio.then((heard) => joinLatency('first_audio', from, heard - at));
      await this.#reportOutputs(outputs);
      if (takeover) void call.audioSettled(this.#deps.config.jobs.handoverTimeoutMs / 2).then((settled) => takeover.tell(settled));
      end = await this.#firstEnd(call, outputs);
    } catch (err) {
      end = { kind: 'failed', error: err };
    } finally {
      clearInterval(progress);
      offChange();
      offMembers();
      controls.stop();
    }
    // A session that ends before it said it records lets the worker that handed it over stop now.
    await takeover?.tell(false);
    const reason = this.#ctx.signal.reason as unknown;
    // Where this segment's files give way to the successor's: taken now, while they are still written.
    if (reason instanceof HandedOver && reason.recordingAt !== undefined) outputs.handOver(reason.recordingAt);
    const owner = await this.#ctx.settleOwnership();
    if (owner === 'handed-over' && !(reason instanceof HandedOver && reason.recordingAt !== undefined)) outputs.handOver(undefined);
    if (owner !== 'mine') return this.#abandon(call, outputs, end);
    // Redis may be away right now: the files are closed whether or not the report gets through.
    await within(this.#report({ phase: 'stopping' }), STOPPING_REDIS_LIMIT_MS, 'reporting the stopping phase').catch((err: unknown) =>
      this.#log.warn({ err }, 'could not report the stopping phase; stopping anyway'),
    );
    this.#log.info({ end: end.kind }, 'session ending');
    sessionEnded(end.kind);
    this.#endCounted = true;
    await call.hangUp(end.kind === 'removed');
    await outputs.finishAll(describeEnd(end), end.kind === 'failed' ? end.error : undefined);
    if (end.kind === 'failed') throw end.error;
  }

  /**
   * Taking a session over from a worker that shuts down: once this worker's recording carries the
   * call's media (or a bound passed), the cut point is now, and that worker is told to stop.
   */
  #takeover(outputs: SessionOutputs): { tell(settled: boolean): Promise<void> } {
    let told = false;
    return {
      tell: async (settled) => {
        if (told) return;
        told = true;
        const at = Date.now();
        outputs.tookOver(at);
        await this.#ctx.handover!.recording(at).catch((err: unknown) => this.#log.error({ err }, 'could not tell the previous worker that this one records; it stops by its own timeout'));
        this.#log.info({ from: this.#ctx.handover!.from, settled, at }, 'taking over: recording the call; the previous worker stops its segment');
      },
    };
  }

  /**
   * Another worker holds the job now (this one's lock lapsed: a pause, Redis away; or it took the
   * session over at shutdown): stop at once, close the files so they stay playable, and leave
   * delivery, the room and Redis to that worker.
   */
  async #abandon(call: Call, outputs: SessionOutputs, end: EndReason): Promise<void> {
    this.#log.warn({ end: end.kind, ...(end.kind === 'failed' ? { err: end.error } : {}) }, 'session abandoned: another worker holds the job; closing this segment without delivering it');
    await call.hangUp(false);
    await outputs.abandon();
    this.#log.info('abandoned session stopped');
  }

  /** The outputs in Redis; a job queued before outputs were kept there records what its data says. */
  async #initialOutputs(): Promise<OutputRecord[]> {
    const records = await this.#ctx.outputs.list();
    this.#outputsFromRedis = records.length > 0;
    if (records.length > 0) return records;
    const { kind, requestedBy, requestEventId, requestedAt } = this.#data;
    return [{ id: 'recording', type: 'recording', kind, requestedBy, requestEventId, at: requestedAt }];
  }

  async #reportOutputs(outputs: SessionOutputs): Promise<void> {
    const bytes = outputs.recordingBytes();
    await this.#report({ outputs: outputs.progress(), ...(bytes !== undefined ? { bytes } : {}) }).catch((err: unknown) => this.#log.warn({ err }, 'progress report failed'));
  }

  /** The first of: the call is over for us, someone stops the session, the worker shuts down, the maximum duration. */
  #firstEnd(call: Call, outputs: SessionOutputs): Promise<EndReason> {
    const { maxDurationMs } = this.#deps.config.recording;
    const signal = this.#ctx.signal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<EndReason>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'max-duration', ms: maxDurationMs }), maxDurationMs);
      onAbort = () => {
        const reason = signal.reason as unknown;
        resolve(reason instanceof StopReason && reason.by !== 'shutdown' ? { kind: 'stopped', by: reason.by } : { kind: 'shutdown' });
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const nothingLeft = outputs.empty.then((by): EndReason => ({ kind: 'stopped', by }));
    return Promise.race([call.ended, stopped, nothingLeft]).finally(() => {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    });
  }

  /** Who is in the call now and what of them is recorded, for !status. */
  #callProgress(call: Call, controls: SessionControls): Partial<SessionProgress> {
    const userIds = [...new Set(call.members().map((m) => m.userId))];
    const paused = controls.paused;
    return {
      participants: call.heard(),
      inCall: userIds.map((id) => nameWithId(call.displayName(id), id)),
      notRecorded: userIds.filter((id) => !controls.records(id)).map((id) => nameWithId(call.displayName(id), id)),
      paused,
    };
  }

  /** Progress is one object in the job: each report updates some fields and keeps the rest. */
  async #report(patch: Partial<SessionProgress>): Promise<void> {
    this.#progress = { ...this.#progress, ...patch };
    await this.#ctx.reportProgress(this.#progress);
  }
}
