// One job: the room's session, from a queued `!record` to the summary. It joins the call (the
// Call owns membership, keys, SFU connections and the shared media), attaches the outputs the
// job asks for, waits for the first reason to end, and lets each output finish and deliver.
// Every failure ends in one plain sentence to the room and an error for the job.
import { Call, type CallEnd } from '../call/call.ts';
import type { Config } from '../config/schema.ts';
import type { Registration } from '../config/registration.ts';
import { LocalDirectorySink, type StorageSink } from '../delivery/storage-sink.ts';
import { describeError } from '../errors.ts';
import { formatDuration } from '../format.ts';
import type { NoticeQueue } from '../jobs/notices.ts';
import type { SessionJobData, SessionProgress } from '../jobs/queues.ts';
import { StopReason, type SessionContext } from '../jobs/worker.ts';
import type { Logger } from '../observability/logger.ts';
import { summaryText } from '../outputs/recording/delivery.ts';
import { RecordingOutput } from '../outputs/recording/recording-output.ts';
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

  constructor(deps: CallSessionDeps, data: SessionJobData, ctx: SessionContext) {
    this.#deps = deps;
    this.#data = data;
    this.#ctx = ctx;
    this.#log = ctx.log.child({ module: 'call-session' });
    const { config } = deps;
    this.#sink = config.storage.directory ? new LocalDirectorySink(config.storage.directory, config.storage.pathTemplate) : undefined;
    this.#notices = new RoomNotices(deps.notices, data.roomId, data.requestEventId, this.#log);
  }

  async run(): Promise<void> {
    try {
      await this.#run();
    } catch (err) {
      this.#log.error({ err }, 'session failed');
      await this.#notices.send(`I could not record this call: ${describeError(err)}`);
      throw err;
    }
  }

  async #run(): Promise<void> {
    const { config, registration } = this.#deps;
    await this.#report({ phase: 'joining' });
    const call = await Call.join(
      { config, registration, notices: this.#notices, log: this.#log },
      { roomId: this.#data.roomId, requestedBy: this.#data.requestedBy, requestedAt: this.#data.requestedAt, video: this.#data.kind === 'video' },
    );
    try {
      await this.#record(call);
    } finally {
      await call.close();
    }
  }

  async #record(call: Call): Promise<void> {
    const { config } = this.#deps;
    const recording = new RecordingOutput(call, { ...this.#ctx, ...this.#data, roomId: this.#data.roomId }, config, this.#log);
    const offMembers = call.onMembers(() => void this.#report({ participants: call.heard() }).catch((err: unknown) => this.#log.warn({ err }, 'progress report failed')));
    // !status shows how much has been written so far.
    const sizes = setInterval(() => void this.#report({ bytes: recording.bytes() }).catch((err: unknown) => this.#log.warn({ err }, 'progress report failed')), 5_000);
    let end: EndReason;
    try {
      await recording.start();
      await this.#report({ phase: 'in-call', joinedAt: Date.now() });
      await this.#notices.send(
        this.#ctx.recovery === 0
          ? `Recording started by ${this.#data.requestedBy}. I am in the call as ${call.own.userId} and record everyone in it; type !stop to end.`
          : `Recording resumed: the worker recording this call stopped unexpectedly, so I rejoined and record on in a new segment (${this.#ctx.recovery + 1}). Type !stop to end.`,
      );
      end = await this.#firstEnd(call);
    } catch (err) {
      end = { kind: 'failed', error: err };
    } finally {
      clearInterval(sizes);
      offMembers();
    }
    await this.#report({ phase: 'stopping' });
    await call.hangUp(end.kind === 'removed');
    const finished = await recording.finish();
    this.#log.info({ end: end.kind }, 'session ending');
    const report = await recording.deliver(finished, describeEnd(end), this.#sink);
    if (end.kind === 'failed') throw end.error;
    await this.#notices.send(summaryText(describeEnd(end), report));
  }

  /** The first of: the call is over for us, someone stops the session, the worker shuts down, the maximum duration. */
  #firstEnd(call: Call): Promise<EndReason> {
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
    return Promise.race([call.ended, stopped]).finally(() => {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    });
  }

  /** Progress is one object in the job: each report updates some fields and keeps the rest. */
  async #report(patch: Partial<SessionProgress>): Promise<void> {
    this.#progress = { ...this.#progress, ...patch };
    await this.#ctx.reportProgress(this.#progress);
  }
}
