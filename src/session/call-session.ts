// One call session, from a queued `!record` to leaving the call: the bot's call user gets a
// device, joins the call through matrix-js-sdk's MatrixRTCSession (as Element Call does),
// connects to every SFU the members publish on, and hands each received track to the recorder.
// Every failure ends in one plain sentence to the room and an error for the job.
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { MatrixClient, Room } from 'matrix-js-sdk';
import { ClientEvent } from 'matrix-js-sdk';
import { MatrixRTCSessionEvent, type MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import type { Config } from '../config/schema.ts';
import type { Registration } from '../config/registration.ts';
import { describeError, RecorderError } from '../errors.ts';
import type { SessionJobData, SessionProgress } from '../jobs/queues.ts';
import type { SessionContext } from '../jobs/worker.ts';
import { StopReason } from '../jobs/worker.ts';
import type { AudioFrame } from '@livekit/rtc-node';
import { AudioRecorder } from '../media/recording/audio-recorder.ts';
import { VideoRecorder } from '../media/recording/video-recorder.ts';
import type { I420 } from '../media/video/grid.ts';
import { LocalDirectorySink, type StorageSink } from '../delivery/storage-sink.ts';
import { deliverRecording, summaryText } from './delivery.ts';
import { ParticipantLog } from './participant-log.ts';
import { hostname } from 'node:os';
import { safeFileLabel } from '../media/recording/file-names.ts';
import type { Logger } from '../observability/logger.ts';
import { planConnections, type FocusSelection } from '../rtc/connection-plan.ts';
import { loginSessionDevice, logoutSessionDevice, type SessionDevice } from '../rtc/device.ts';
import { CALL_MEMBER_EVENT, joinCall, NO_DELAYED_LEAVE_MESSAGE, ownIdentity, RTC_MEMBER_EVENT, type MembershipKind } from '../rtc/own-membership.ts';
import { startSessionClient } from '../rtc/session-client.ts';
import { discoverOwnTransport, type LivekitTransport } from '../rtc/transports.ts';
import { AppserviceClient, roomPath } from './appservice-client.ts';
import { callFocusSelection, type CallMember } from './call-members.ts';
import { callUserLocalpart, ensureCallUserInRoom, missingMessagePower, missingStatePower } from './call-user.ts';
import { anyCall, chooseMembershipKind, readCallEvidence, type CallEvidence } from './call-evidence.ts';
import { CallRoster } from './call-roster.ts';
import { UnreadableMembers } from './unreadable-members.ts';
import type { PowerLevelsContent } from '../matrix/permissions.ts';
import { formatDuration } from '../format.ts';
import { MediaConnections } from './media-connections.ts';
import { MediaKeys } from './media-keys.ts';
import { DecryptionReports } from './decryption-reports.ts';
import { describeEarlierSegments } from './earlier-segments.ts';
import { elementCallE2eeOptions } from '../media/livekit/participant-keys.ts';
import { RoomNotices } from './room-notices.ts';
import { signOwnDevice } from '../crypto/sign-device.ts';
import type { NoticeQueue } from '../jobs/notices.ts';

export interface CallSessionDeps {
  config: Config;
  registration: Registration;
  log: Logger;
  /** Where the session's messages to the room go (the bridge sends them, encrypted where needed). */
  notices: Pick<NoticeQueue, 'add'>;
}

/** Why a session ended, as told to the room. */
type EndReason =
  | { kind: 'stopped'; by: string }
  | { kind: 'shutdown' }
  | { kind: 'call-ended' }
  | { kind: 'removed' }
  | { kind: 'max-duration'; ms: number }
  | { kind: 'failed'; error: unknown };

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
  readonly #as: AppserviceClient;
  readonly #botUserId: string;
  readonly #callUserId: string;
  readonly #notices: RoomNotices;
  readonly #received = new Map<string, CallMember | undefined>();
  #firstFrameLogged = false;
  #progress: SessionProgress = { phase: 'queued' };
  readonly #sink: StorageSink | undefined;

  constructor(deps: CallSessionDeps, data: SessionJobData, ctx: SessionContext) {
    this.#deps = deps;
    this.#data = data;
    this.#ctx = ctx;
    this.#log = ctx.log.child({ module: 'call-session' });
    const { config, registration } = deps;
    this.#as = new AppserviceClient(config.homeserver.url, registration.as_token);
    this.#botUserId = `@${config.bot.localpart}:${config.homeserver.domain}`;
    this.#callUserId = `@${callUserLocalpart(config.bot.localpart)}:${config.homeserver.domain}`;
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
    const { config } = this.#deps;
    const roomId = this.#data.roomId;
    await this.#report({ phase: 'joining' });
    const evidence = await this.#checkCallInRoomState();
    const encrypted = await this.#roomIsEncrypted();
    const kind = chooseMembershipKind(config.rtc.membershipMode, evidence);
    this.#log.info({ membershipMode: config.rtc.membershipMode, kind }, 'own call membership kind chosen');
    await ensureCallUserInRoom(this.#as, { botUserId: this.#botUserId, callUserId: this.#callUserId, roomId, displayName: `${config.bot.displayName} (recording)` }, this.#log);
    await this.#checkMembershipPower(kind, encrypted);

    const device = await loginSessionDevice(config.homeserver.url, this.#deps.registration.as_token, this.#callUserId, 'matrixrtc-recorder call session');
    const log = this.#log.child({ deviceId: device.deviceId });
    let client: MatrixClient | undefined;
    try {
      client = await startSessionClient({ homeserverUrl: config.homeserver.url, device, log, syncTimeoutMs: config.rtc.syncTimeoutMs, withCrypto: encrypted });
      // Signed by its owner, so clients that share keys only with verified devices include it.
      if (encrypted) await signOwnDevice(config.homeserver.url, this.#deps.registration.as_token, config.encryption.crossSigningKeysFile, device.userId, device.deviceId, log, { expectedEd25519Key: (await client.getCrypto()?.getOwnDeviceKeys())?.ed25519 });
      await this.#inCall(client, device, encrypted, { kind, evidence }, log);
    } finally {
      client?.stopClient();
      await logoutSessionDevice(config.homeserver.url, device).catch((err: unknown) => log.warn({ err }, 'could not log out the session device'));
    }
  }

  async #inCall(client: MatrixClient, device: SessionDevice, encrypted: boolean, call: { kind: MembershipKind; evidence: CallEvidence }, log: Logger): Promise<void> {
    const { config } = this.#deps;
    const room = await waitForRoom(client, this.#data.roomId, config.rtc.syncTimeoutMs);
    const session = client.matrixRTC.getRoomSession(room);
    const { rtcBackendIdentity: ownBackendIdentity, ...own } = await ownIdentity(device.userId, device.deviceId, call.kind);

    // Media keys come from js-sdk's key exchange (Olm to-device), per sender identity and index.
    const mediaKeys = encrypted ? new MediaKeys() : undefined;
    const onKey = (key: Uint8Array, index: number, _member: unknown, identity: string) => {
      if (identity === ownBackendIdentity) return; // our own key: for publishing, later
      log.info({ identity, index }, 'media key received');
      mediaKeys?.set(identity, index, key);
    };
    // Encrypted Matrix 2.0 members whose membership this new device cannot decrypt: known by their keys.
    const unreadable =
      mediaKeys && call.evidence.unreadable.length > 0
        ? new UnreadableMembers({ client, room, evidence: call.evidence.unreadable, onKey: (identity, index, key) => onKey(key, index, undefined, identity), log })
        : undefined;
    const roster = new CallRoster(session, own, unreadable);
    const members = await waitForMembers(session, roster, unreadable !== undefined, 5_000);
    if (members.length === 0 && !unreadable) throw noCallError();

    const { transport, source } = await discoverOwnTransport(
      { rtcTransports: () => client._unstable_getRTCTransports(), clientWellKnown: () => fetchWellKnown(config.homeserver.url) },
      config.rtc.livekitServiceUrl,
      log,
    );
    // A sticky membership always publishes on its own transport; a legacy one follows the call.
    const focusSelection = call.kind === 'sticky' || members.length === 0 ? 'multi_sfu' : callFocusSelection(oldestMembershipContent(room, members));
    log.info(
      { ownTransport: transport.livekit_service_url, source, focusSelection, kind: call.kind, members: members.map((m) => ({ userId: m.userId, kind: m.kind })), unreadable: call.evidence.unreadable.length },
      'call found',
    );
    const ownServiceUrl = ownConnectionUrl(focusSelection, transport, members);

    if (mediaKeys) session.on(MatrixRTCSessionEvent.EncryptionKeyChanged, onKey);
    const { delayedLeaveScheduled } = await joinCall(
      session,
      client,
      own,
      {
        kind: call.kind,
        transport,
        focusSelection,
        encrypted,
        delayedLeaveEventDelayMs: config.rtc.delayedLeaveEventDelayMs,
        timeoutMs: config.rtc.syncTimeoutMs,
        consent: { requestedBy: this.#data.requestedBy, since: this.#data.requestedAt },
      },
      log,
    );
    if (!delayedLeaveScheduled) await this.#notices.send(NO_DELAYED_LEAVE_MESSAGE);
    // Unreadable members send their key once they see our membership; whoever has not by now cannot be recorded yet.
    const unidentifiedCheck = unreadable
      ? setTimeout(() => {
          const missing = unreadable.unidentified(roster.readable());
          if (missing.length === 0) return;
          log.warn({ missing }, 'encrypted call memberships we cannot read, and no media key from those members');
          void this.#notices.send(
            `I cannot read the call membership of ${[...new Set(missing.map((m) => m.userId))].join(', ')}: it is end-to-end encrypted and was sent ` +
              'before my device existed (Matrix 2.0 calls), and they have not sent me their media key. I will record them once they do, or once they renew their membership.',
          );
        }, UNIDENTIFIED_GRACE_MS)
      : undefined;

    const dir = join(config.recording.outputDir, safeFileLabel(this.#data.roomId), this.#ctx.jobId, `segment-${this.#ctx.recovery}`);
    const video =
      this.#data.kind === 'video'
        ? new VideoRecorder({ dir, ffmpegPath: config.recording.ffmpegPath, log, format: { width: config.recording.videoWidth, height: config.recording.videoHeight, fps: config.recording.videoFps } })
        : undefined;
    const audio = new AudioRecorder({ dir, ffmpegPath: config.recording.ffmpegPath, log, ...(video ? { onMixed: (chunk: Int16Array) => video.writeAudio(chunk) } : {}) });
    audio.start();
    video?.start(audio.startedAt);
    video?.setMembers(members.map(memberKey));
    const worker = `${hostname()}:${process.pid}`;
    const participants = new ParticipantLog(audio.startedAt);
    participants.update(members);
    // Kept current in Redis, so that a worker recovering this job after a crash can describe this segment.
    const recordSegment = () =>
      this.#ctx.segments
        .put({
          index: this.#ctx.recovery,
          startedAt: new Date(audio.startedAt).toISOString(),
          worker,
          dir,
          participants: participants.spans(),
          stems: audio.stemFiles.map(({ path, speaker }) => ({ file: basename(path), ...(speaker.userId ? { userId: speaker.userId } : {}), ...(speaker.deviceId ? { deviceId: speaker.deviceId } : {}) })),
        })
        .catch((err: unknown) => log.warn({ err }, 'could not record the segment in Redis; a recovery would list it with less detail'));
    await recordSegment();
    const ended = new SessionEnd(this.#ctx.signal);
    const maxDuration = setTimeout(() => ended.end({ kind: 'max-duration', ms: config.recording.maxDurationMs }), config.recording.maxDurationMs);
    const unreachable = new Set<string>();
    const decryption = new DecryptionReports(
      (identity) => {
        const m = roster.memberFor(identity);
        return m ? `${m.userId} (device ${m.deviceId})` : identity;
      },
      (text) => void this.#notices.send(text),
      log,
      (identity) => mediaKeys?.has(identity) ?? false,
    );
    const media = new MediaConnections({
      roomId: this.#data.roomId,
      own,
      ownMembership: call.kind,
      openIdToken: () => client.getOpenIdToken() as never,
      participantName: `${config.bot.displayName} (recording)`,
      log,
      ...(mediaKeys ? { encryption: elementCallE2eeOptions(), mediaKeys, onE2eeState: (identity, state) => decryption.update(identity, state) } : {}),
      onAudioTrack: (track) => {
        const member = roster.memberFor(track.identity);
        this.#received.set(track.identity, member);
        if (!member) log.warn({ identity: track.identity }, 'audio from a LiveKit participant without a call membership');
        const key = member ? memberKey(member) : track.identity;
        audio.addTrack({ key, label: safeFileLabel(key), ...(member ? { userId: member.userId, deviceId: member.deviceId } : {}) }, this.#timeFirstFrame(key, track.frames));
        void recordSegment();
        void this.#reportInCall();
      },
      ...(video
        ? {
            onVideoTrack: (track: { identity: string; frames: AsyncIterable<I420> }) => {
              const member = roster.memberFor(track.identity);
              video.addTrack(member ? memberKey(member) : track.identity, track.frames);
            },
          }
        : {}),
      onConnectFailed: (planned, err) => {
        log.error({ err, serviceUrl: planned.serviceUrl }, 'could not connect to a member SFU');
        // Retried at every membership change; the room hears about each SFU once.
        if (unreachable.has(planned.serviceUrl)) return;
        unreachable.add(planned.serviceUrl);
        const who = roster.members().filter((m) => planned.identities.includes(m.identity)).map((m) => m.userId);
        void this.#notices.send(`I cannot receive the media of ${[...new Set(who)].join(', ') || 'some members'}: ${describeError(err)}`);
      },
      onConnectionLost: (serviceUrl, reason) => {
        if (serviceUrl === ownServiceUrl) ended.end({ kind: 'failed', error: new RecorderError(`lost the SFU connection: ${reason}`, 'MRR_LIVEKIT_LOST') });
        else log.warn({ serviceUrl, reason }, 'lost a subscribe-only SFU connection');
      },
    });

    const joinedAt = Date.now();
    // !status shows how much has been written so far.
    const sizes = setInterval(() => void this.#report({ bytes: directoryBytes(dir) }).catch((err: unknown) => log.warn({ err }, 'progress report failed')), 5_000);
    let end: EndReason | undefined;
    const watcher = watchCall(session, roster, own, config.rtc.emptyCallGraceMs, ended, log, (current) => {
      participants.update(current);
      void recordSegment();
      video?.setMembers(current.map(memberKey));
      void media.apply(planConnections(ownServiceUrl, current)).catch((err: unknown) => log.error({ err }, 'connecting to a new SFU failed'));
    });
    try {
      await media.apply(planConnections(ownServiceUrl, members));
      await this.#report({ phase: 'in-call', joinedAt });
      await this.#notices.send(
        this.#ctx.recovery === 0
          ? `Recording started by ${this.#data.requestedBy}. I am in the call as ${own.userId} and record everyone in it; type !stop to end.`
          : `Recording resumed: the worker recording this call stopped unexpectedly, so I rejoined and record on in a new segment (${this.#ctx.recovery + 1}). Type !stop to end.`,
      );
      end = await ended.promise;
    } catch (err) {
      end = { kind: 'failed', error: err };
    } finally {
      clearTimeout(maxDuration);
      clearTimeout(unidentifiedCheck);
      clearInterval(sizes);
      watcher.dispose();
      unreadable?.dispose();
      decryption.dispose();
      session.off(MatrixRTCSessionEvent.EncryptionKeyChanged, onKey);
      await this.#report({ phase: 'stopping' });
      await media.close();
      // A removed membership has nothing to leave; otherwise leave cleanly (the delayed leave is cancelled).
      if (end?.kind !== 'removed') {
        await session.leaveRoomSession(5_000).catch((err: unknown) => log.warn({ err }, 'leaving the call failed; the delayed leave event will remove the membership'));
      }
    }
    participants.update([]);
    if (mediaKeys) log.info({ keys: mediaKeys.describe(), e2ee: Object.fromEntries(decryption.states) }, 'media keys and E2EE states at the end');
    mediaKeys?.clear();
    const recording = await audio.finish();
    const videoResult = await video?.finish(recording.durationMs);
    log.info({ end: end.kind, durationMs: recording.durationMs, mixed: recording.mixed, stems: recording.stems }, 'recording finished');
    // What was recorded is delivered even when the session failed midway.
    const report = await deliverRecording({
      dir,
      recording,
      manifest: {
        version: 1,
        roomId: this.#data.roomId,
        sessionId: this.#ctx.jobId,
        requestedBy: this.#data.requestedBy,
        kind: this.#data.kind,
        startedAt: new Date(recording.startedAt).toISOString(),
        endedAt: new Date(recording.startedAt + recording.durationMs).toISOString(),
        endReason: describeEnd(end),
      },
      ...(videoResult ? { video: videoResult } : {}),
      earlier: await describeEarlierSegments(await this.#ctx.segments.all(), this.#ctx.recovery, log),
      segment: {
        index: this.#ctx.recovery,
        dir: basename(dir),
        startedAt: new Date(recording.startedAt).toISOString(),
        endedAt: new Date(recording.startedAt + recording.durationMs).toISOString(),
        durationMs: recording.durationMs,
        worker,
        participants: participants.spans(),
      },
      ...(config.recording.uploadToRoom
        ? { upload: { client, homeserverUrl: config.homeserver.url, accessToken: device.accessToken, encrypted } }
        : {}),
      ...(this.#sink ? { sink: this.#sink } : {}),
      log,
    });
    log.info({ manifest: report.manifestPath, stored: report.stored.length, uploads: report.uploads, problems: report.problems }, 'session ended');
    if (end.kind === 'failed') throw end.error;
    await this.#notices.send(summaryText(describeEnd(end), report));
  }

  /** Logs when the session's first decoded audio frame arrives, measured from the `!record`. */
  #timeFirstFrame(speaker: string, frames: AsyncIterable<AudioFrame>): AsyncIterable<AudioFrame> {
    if (this.#firstFrameLogged) return frames;
    const session = this;
    return (async function* () {
      for await (const frame of frames) {
        if (!session.#firstFrameLogged) {
          session.#firstFrameLogged = true;
          session.#log.info({ speaker, msSinceRecord: Date.now() - session.#data.requestedAt }, 'first audio frame decoded');
        }
        yield frame;
      }
    })();
  }

  async #reportInCall() {
    const participants = [...new Set([...this.#received.values()].flatMap((m) => (m ? [m.userId] : [])))];
    await this.#report({ participants }).catch((err: unknown) => this.#log.warn({ err }, 'progress report failed'));
  }

  /** Progress is one object in the job: each report updates some fields and keeps the rest. */
  async #report(patch: Partial<SessionProgress>): Promise<void> {
    this.#progress = { ...this.#progress, ...patch };
    await this.#ctx.reportProgress(this.#progress);
  }

  /**
   * A cheap first look, before the call user joins anything: any call membership at all, legacy
   * (room state) or sticky (recent timeline)? What it finds also decides our membership kind.
   */
  async #checkCallInRoomState(): Promise<CallEvidence> {
    const evidence = await readCallEvidence(this.#as, this.#data.roomId, this.#botUserId, this.#callUserId, this.#log);
    if (!anyCall(evidence)) throw noCallError();
    return evidence;
  }

  /**
   * A legacy membership is a state event; a sticky one a message event, sent as m.room.encrypted
   * in encrypted rooms, while its delayed leave goes out in clear as rtc.member.
   */
  async #checkMembershipPower(kind: MembershipKind, encrypted: boolean): Promise<void> {
    const levels = await this.#as.request<PowerLevelsContent>('reading power levels', 'GET', roomPath(this.#data.roomId, 'state/m.room.power_levels/'), this.#botUserId);
    const needs =
      kind === 'legacy'
        ? [{ type: CALL_MEMBER_EVENT, missing: missingStatePower(levels, CALL_MEMBER_EVENT, this.#callUserId) }]
        : [RTC_MEMBER_EVENT, ...(encrypted ? ['m.room.encrypted'] : [])].map((type) => ({ type, missing: missingMessagePower(levels, type, this.#callUserId) }));
    const lacking = needs.find((n) => n.missing);
    if (!lacking?.missing) return;
    const { type, missing } = lacking;
    throw new RecorderError(`call user lacks power for ${type}`, 'MRR_NO_CALL_POWER', {
      retryable: false,
      userMessage:
        `my call participant ${this.#callUserId} needs power level ${missing.needed} to send its call membership (${type}) ` +
        `in this room but has ${missing.has}. Raise its power level or lower the level needed for that event.`,
    });
  }

  async #roomIsEncrypted(): Promise<boolean> {
    try {
      await this.#as.request('reading room encryption', 'GET', roomPath(this.#data.roomId, 'state/m.room.encryption/'), this.#botUserId);
      return true;
    } catch (err) {
      if ((err as RecorderError).errcode === 'M_NOT_FOUND') return false;
      throw err;
    }
  }
}

function directoryBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/** A member's key in file names and video tiles: one per Matrix device. */
const memberKey = (member: CallMember) => `${member.userId}_${member.deviceId}`;

const noCallError = () =>
  new RecorderError('no call in progress', 'MRR_NO_CALL', {
    retryable: false,
    userMessage: 'there is no call in progress in this room. Start the call first, then type !record.',
  });

/** Resolves with the first reason the session has to end. */
class SessionEnd {
  readonly promise: Promise<EndReason>;
  end!: (reason: EndReason) => void;

  constructor(signal: AbortSignal) {
    this.promise = new Promise((resolve) => {
      this.end = resolve;
    });
    const onAbort = () => {
      const reason = signal.reason as unknown;
      this.end(reason instanceof StopReason && reason.by !== 'shutdown' ? { kind: 'stopped', by: reason.by } : { kind: 'shutdown' });
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }
}

/** How long our membership may be missing while js-sdk's membership manager re-joins. */
const REJOIN_GRACE_MS = 10_000;
/** Members that see our membership send their media key within a second or two; this leaves room for a slow homeserver. */
const UNIDENTIFIED_GRACE_MS = 15_000;

/**
 * Ends the session when nobody else is in the call for `graceMs`, or when our membership stays
 * gone (kicked, or removed by someone) for longer than js-sdk takes to re-join by itself.
 */
function watchCall(
  session: MatrixRTCSession,
  roster: CallRoster,
  own: { userId: string; deviceId: string },
  graceMs: number,
  ended: SessionEnd,
  log: Logger,
  onMembers: (members: CallMember[]) => void,
) {
  let emptySince: ReturnType<typeof setTimeout> | undefined;
  let missingSince: ReturnType<typeof setTimeout> | undefined;
  const onChange = () => {
    const members = roster.members();
    const mine = session.memberships.some((m) => m.userId === own.userId && m.deviceId === own.deviceId);
    log.info({ members: members.map((m) => m.identity), own: mine }, 'call memberships changed');
    const roomMembership = session.room.getMember(own.userId)?.membership;
    if (!mine && (roomMembership === 'leave' || roomMembership === 'ban')) {
      log.warn({ roomMembership }, 'our call user was removed from the room');
      return ended.end({ kind: 'removed' });
    }
    if (!mine && !missingSince) {
      log.warn({ graceMs: REJOIN_GRACE_MS }, 'our call membership is gone; ending the session unless it comes back');
      missingSince = setTimeout(() => ended.end({ kind: 'removed' }), REJOIN_GRACE_MS);
    } else if (mine && missingSince) {
      log.info('our call membership is back');
      clearTimeout(missingSince);
      missingSince = undefined;
    }
    if (members.length === 0 && !emptySince) {
      log.info({ graceMs }, 'nobody else is in the call; waiting before leaving');
      emptySince = setTimeout(() => ended.end({ kind: 'call-ended' }), graceMs);
    } else if (members.length > 0 && emptySince) {
      clearTimeout(emptySince);
      emptySince = undefined;
    }
    onMembers(members);
  };
  const off = roster.onChange(onChange);
  return {
    dispose() {
      clearTimeout(emptySince);
      clearTimeout(missingSince);
      off();
    },
  };
}

/** In multi-SFU calls we publish on our own transport; otherwise on the oldest member's SFU. */
function ownConnectionUrl(selection: FocusSelection, own: LivekitTransport, members: CallMember[]): string {
  if (selection === 'multi_sfu' || members.length === 0) return own.livekit_service_url;
  const oldest = members.reduce((a, b) => (b.createdTs < a.createdTs ? b : a));
  return oldest.serviceUrl ?? own.livekit_service_url;
}

function oldestMembershipContent(room: Room, members: CallMember[]): Record<string, unknown> | undefined {
  const oldest = members.reduce((a, b) => (b.createdTs < a.createdTs ? b : a));
  const events = room.currentState.getStateEvents(CALL_MEMBER_EVENT);
  return events.find((e) => e.getSender() === oldest.userId && e.getContent().device_id === oldest.deviceId)?.getContent();
}

async function fetchWellKnown(homeserverUrl: string): Promise<Record<string, unknown>> {
  const url = new URL('/.well-known/matrix/client', homeserverUrl);
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

function waitForRoom(client: MatrixClient, roomId: string, timeoutMs: number): Promise<Room> {
  const existing = client.getRoom(roomId);
  if (existing) return Promise.resolve(existing);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(ClientEvent.Room, onRoom);
      reject(new RecorderError(`the session device did not see room ${roomId} within ${timeoutMs} ms`, 'MRR_ROOM_TIMEOUT'));
    }, timeoutMs);
    const onRoom = (room: Room) => {
      if (room.roomId !== roomId) return;
      clearTimeout(timer);
      client.off(ClientEvent.Room, onRoom);
      resolve(room);
    };
    client.on(ClientEvent.Room, onRoom);
  });
}

/**
 * js-sdk parses memberships asynchronously after sync; give it a moment before concluding there
 * is no call. When the call's members are unreadable ones, nobody readable is to be expected.
 */
async function waitForMembers(session: MatrixRTCSession, roster: CallRoster, unreadableExpected: boolean, timeoutMs: number): Promise<CallMember[]> {
  const current = () => roster.readable();
  await session.initialMembershipCalculated;
  if (current().length > 0 || unreadableExpected) return current();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      session.off(MatrixRTCSessionEvent.MembershipsChanged, onChange);
      resolve();
    }
    const onChange = () => {
      if (current().length > 0) done();
    };
    session.on(MatrixRTCSessionEvent.MembershipsChanged, onChange);
  });
  return current();
}
