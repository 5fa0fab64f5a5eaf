// A call the bot takes part in, and nothing else: its call user's device and membership
// (matrix-js-sdk's MatrixRTCSession, as Element Call runs it), the members' media keys, one
// LiveKit connection per SFU the members publish on, who is who, and the decrypted media turned
// into one shared audio clock and one shared picture. Outputs (recordings, streams) subscribe to
// `audio` and `video`; the call knows nothing of files or URLs.
import type { AudioFrame } from '@livekit/rtc-node';
import type { MatrixClient, Room } from 'matrix-js-sdk';
import { MatrixRTCSessionEvent, type MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import type { Config } from '../config/schema.ts';
import type { Registration } from '../config/registration.ts';
import { signOwnDevice } from '../crypto/sign-device.ts';
import { describeError, RecorderError } from '../errors.ts';
import { elementCallE2eeOptions } from '../media/livekit/participant-keys.ts';
import { safeFileLabel } from '../media/recording/file-names.ts';
import type { I420 } from '../media/video/i420.ts';
import type { Logger } from '../observability/logger.ts';
import { AuthorizerPolicy, RefusedTargetError } from '../rtc/authorizer-guard.ts';
import { membersWithoutTransport, planConnections } from '../rtc/connection-plan.ts';
import { loginSessionDevice, logoutSessionDevice, type SessionDevice } from '../rtc/device.ts';
import { consentData, joinCall, NO_DELAYED_LEAVE_MESSAGE, ownIdentity, type MembershipKind, type OwnIdentity } from '../rtc/own-membership.ts';
import { startSessionClient } from '../rtc/session-client.ts';
import { advertisedAuthorizers, discoverOwnTransport } from '../rtc/transports.ts';
import { AppserviceClient, roomPath } from '../session/appservice-client.ts';
import type { RoomNotices } from '../session/room-notices.ts';
import { ActiveSpeaker, rms } from './active-speaker.ts';
import { CallAudio, type Speaker } from './call-audio.ts';
import { fetchWellKnown, oldestMembershipContent, ownConnectionUrl, waitForMembers, waitForRoom } from './call-lookup.ts';
import { callFocusSelection, type CallMember } from './call-members.ts';
import { checkMembershipPower, noCallError, preflight, type Preflight } from './call-preflight.ts';
import { CallRoster } from './call-roster.ts';
import { callUserLocalpart, ensureCallUserInRoom } from './call-user.ts';
import { watchCall } from './call-watch.ts';
import type { CallVideo } from './call-video.ts';
import { CallVoice } from './call-voice.ts';
import { DecryptionReports } from './decryption-reports.ts';
import { MediaConnections, refusedSfuSentence } from './media-connections.ts';
import { formatDuration } from '../format.ts';
import { MediaKeys } from './media-keys.ts';
import { MediaPolicy } from './media-policy.ts';
import { UnreadableMembers } from './unreadable-members.ts';

export type CallEnd = { kind: 'call-ended' } | { kind: 'removed' } | { kind: 'failed'; error: unknown };

export interface CallDeps {
  config: Config;
  registration: Registration;
  notices: RoomNotices;
  log: Logger;
}

export interface CallRequest {
  roomId: string;
  requestedBy: string;
  requestedAt: number;
  /** Subscribe to cameras and compose the shared picture (some output wants video). */
  video: boolean;
  /** Who takes part: the recorder's call user (default), or the puppet of a bridged phone caller. */
  participant?: CallParticipant;
}

/** A bridged caller's own Matrix user: a member like any other, named after the caller. */
export interface CallParticipant {
  localpart: string;
  displayName: string;
}

/** Members that see our membership send their media key within a second or two; this leaves room for a slow homeserver. */
const UNIDENTIFIED_GRACE_MS = 15_000;

type KeyHandler = (key: Uint8Array, index: number, member: unknown, identity: string) => void;

/** A member's key in file names and video tiles: one per Matrix device. */
export const memberKey = (member: CallMember) => `${member.userId}_${member.deviceId}`;

/** Our own SFU connection dropped (`lost`) or was opened again (`back`), wall-clock times. */
export type OwnSfuEvent = { type: 'lost'; at: number; reason: string } | { type: 'back'; at: number; lostAt: number };

/**
 * Decrypting this long, a track's frames are real in the recording (300 ms settle, 60 ms prebuffer)
 * and a fresh receiver's jitter buffer has stopped stretching them (it does, for about half a second, measured).
 */
const AUDIO_SETTLE_MS = 1_200;
/** A call where nobody's audio arrived this long after joining has nothing to wait for. */
const NOBODY_HEARD_MS = 5_000;
const DECRYPTING = new Set(['ok', 'key-ratcheted']);

/** How long the call waits for its own SFU to come back before it ends. */
export const OWN_SFU_GRACE_MS = 60_000;

export class Call {
  readonly audio: CallAudio;
  readonly video: CallVideo | undefined;
  /** What of the media may reach the outputs (pause, consent): applied to the shared mix and grid. */
  readonly mediaPolicy = new MediaPolicy();
  readonly encrypted: boolean;
  readonly own: OwnIdentity;
  /** Our LiveKit identity, as peers derive it from our membership. */
  readonly ownBackendIdentity: string;
  readonly kind: MembershipKind;
  /** Resolves with the reason the call is over for us (never rejects). */
  readonly ended: Promise<CallEnd>;
  readonly #end: (reason: CallEnd) => void;
  readonly #deps: CallDeps;
  readonly #request: CallRequest;
  readonly #client: MatrixClient;
  readonly #device: SessionDevice;
  readonly #log: Logger;
  readonly #memberListeners = new Set<(members: CallMember[]) => void>();
  readonly #ownSfuListeners = new Set<(event: OwnSfuEvent) => void>();
  /** Since when our own SFU connection is gone (MediaConnections is opening it again), and the deadline's timer. */
  #ownSfuLost: { at: number; timer: ReturnType<typeof setTimeout> } | undefined;
  readonly #heard = new Map<string, CallMember | undefined>();
  /** Since when each received audio track carries real media (E2EE: decrypting; otherwise: subscribed). */
  readonly #realSince = new Map<string, number | undefined>();
  #joinedAt = Date.now();
  /** Speakers whose LiveKit identity no membership named yet. */
  readonly #unnamed = new Map<string, Speaker>();
  readonly #cleanups: Array<() => void> = [];
  #session: MatrixRTCSession | undefined;
  #roster: CallRoster | undefined;
  #media: MediaConnections | undefined;
  #mediaKeys: MediaKeys | undefined;
  #decryption: DecryptionReports | undefined;
  #voice: CallVoice | undefined;
  #firstFrameLogged = false;
  /** When the call's first decoded audio frame arrived (ms since epoch); pending until one does. */
  readonly firstAudio: Promise<number>;
  #markFirstAudio!: (at: number) => void;
  /** Which authorizers members' memberships may send us to (set when we join). */
  #policy: AuthorizerPolicy | undefined;

  private constructor(
    deps: CallDeps,
    request: CallRequest,
    session: { client: MatrixClient; device: SessionDevice; own: OwnIdentity & { rtcBackendIdentity: string }; kind: MembershipKind; encrypted: boolean; Video: typeof CallVideo | undefined },
    log: Logger,
  ) {
    this.#deps = deps;
    this.#request = request;
    this.#client = session.client;
    this.#device = session.device;
    const { rtcBackendIdentity, ...own } = session.own;
    this.own = own;
    this.ownBackendIdentity = rtcBackendIdentity;
    this.kind = session.kind;
    this.encrypted = session.encrypted;
    this.#log = log;
    let end!: (reason: CallEnd) => void;
    this.ended = new Promise((resolve) => (end = resolve));
    this.#end = end;
    this.firstAudio = new Promise((resolve) => (this.#markFirstAudio = resolve));
    const { config } = deps;
    this.audio = new CallAudio({ log, policy: this.mediaPolicy });
    this.video = session.Video
      ? new session.Video({
          format: { width: config.recording.videoWidth, height: config.recording.videoHeight, fps: config.recording.videoFps },
          log,
          paused: () => this.mediaPolicy.current.paused,
          hidden: (key) => !this.mediaPolicy.current.records(this.members().find((m) => memberKey(m) === key)?.userId),
          name: (key) => {
            const member = this.members().find((m) => memberKey(m) === key);
            return member ? this.displayName(member.userId) : key;
          },
        })
      : undefined;
    const video = this.video;
    if (video) {
      this.mediaPolicy.onChange(() => video.invalidate());
      // The highlight follows who is heard in the recording (the clock's chunks, after pause and consent).
      const speaking = new ActiveSpeaker();
      this.audio.subscribe((tick) => video.setSpeaking(speaking.push(tick.speakers.map(({ speaker, chunk }) => ({ key: speaker.key, rms: chunk ? rms(chunk) : 0 })), tick.heardAt)));
    }
    this.#voice = config.voice.enabled || request.participant ? new CallVoice({ language: config.voice.language, encrypted: session.encrypted, log, publish: request.participant ? 'always' : 'whileSpeaking' }) : undefined;
  }

  /** Checks, gets a device, joins and connects; the returned call is receiving media. */
  static async join(deps: CallDeps, request: CallRequest): Promise<Call> {
    const { config, registration } = deps;
    const as = new AppserviceClient(config.homeserver.url, registration.as_token);
    const participant = request.participant;
    const ids = {
      roomId: request.roomId,
      botUserId: `@${config.bot.localpart}:${config.homeserver.domain}`,
      callUserId: `@${participant?.localpart ?? callUserLocalpart(config.bot.localpart)}:${config.homeserver.domain}`,
    };
    const checked = await preflight(as, ids, config.rtc.membershipMode, deps.log);
    await ensureCallUserInRoom(as, { ...ids, displayName: participant?.displayName ?? `${config.bot.displayName} (recording)` }, deps.log);
    await checkMembershipPower(as, ids, checked.kind, checked.encrypted);

    const device = await loginSessionDevice(config.homeserver.url, registration.as_token, ids.callUserId, 'matrixrtc-recorder call session');
    const log = deps.log.child({ deviceId: device.deviceId });
    let client: MatrixClient | undefined;
    let call: Call | undefined;
    try {
      client = await startSessionClient({ homeserverUrl: config.homeserver.url, device, log, syncTimeoutMs: config.rtc.syncTimeoutMs, withCrypto: checked.encrypted, roomId: request.roomId });
      // Signed by its owner, so clients that share keys only with verified devices include it.
      // A caller's puppet has no cross-signing identity: its device stays unsigned, like a new user's.
      if (checked.encrypted && !participant) {
        const expectedEd25519Key = (await client.getCrypto()?.getOwnDeviceKeys())?.ed25519;
        await signOwnDevice(config.homeserver.url, registration.as_token, config.encryption.crossSigningKeysFile, device.userId, device.deviceId, log, { expectedEd25519Key });
      }
      const own = await ownIdentity(device.userId, device.deviceId, checked.kind);
      // Loaded for video only: the picture's Skia and fonts are ~17 MiB an audio recording does without.
      const Video = request.video ? (await import('./call-video.ts')).CallVideo : undefined;
      call = new Call(deps, request, { client, device, own, kind: checked.kind, encrypted: checked.encrypted, Video }, log);
      await call.#enter(checked);
      return call;
    } catch (err) {
      if (call) await call.hangUp();
      client?.stopClient();
      await logoutSessionDevice(config.homeserver.url, device).catch((e: unknown) => log.warn({ err: e }, 'could not log out the session device'));
      throw err;
    }
  }

  /** Everyone in the call but us. */
  members(): CallMember[] {
    return this.#roster?.members() ?? [];
  }

  /**
   * A user as the room shows them: js-sdk's member name, which is what Element displays (the
   * display name, disambiguated as "Name (@user:server)" when another member has the same one).
   */
  displayName(userId: string): string {
    return this.#client.getRoom(this.#request.roomId)?.getMember(userId)?.name ?? userId;
  }

  /** The room's name as clients show it (its name, alias or members). */
  get roomName(): string {
    return this.#client.getRoom(this.#request.roomId)?.name ?? this.#request.roomId;
  }

  /**
   * Resolves true once every audio track received so far has carried the call's real media for a
   * moment (in E2EE calls: decrypting), or nobody's audio arrived in a while; false after `limitMs`.
   * A worker taking a session over waits for this before the worker it replaces stops recording.
   */
  async audioSettled(limitMs: number): Promise<boolean> {
    const until = Date.now() + limitMs;
    for (;;) {
      const now = Date.now();
      const tracks = [...this.#heard.keys()];
      const settled =
        tracks.length > 0
          ? tracks.every((identity) => now - (this.#realSince.get(identity) ?? Infinity) >= AUDIO_SETTLE_MS)
          : now - this.#joinedAt >= NOBODY_HEARD_MS;
      if (settled) return true;
      if (now >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Matrix users whose audio arrived so far. */
  heard(): string[] {
    return [...new Set([...this.#heard.values()].flatMap((m) => (m ? [m.userId] : [])))];
  }

  onMembers(listener: (members: CallMember[]) => void): () => void {
    this.#memberListeners.add(listener);
    return () => this.#memberListeners.delete(listener);
  }

  /** Our own SFU connection dropped, or is back: what arrives in between is silence in the recording. */
  onOwnSfu(listener: (event: OwnSfuEvent) => void): () => void {
    this.#ownSfuListeners.add(listener);
    return () => this.#ownSfuListeners.delete(listener);
  }

  /**
   * Our SFU went away (a restart, a network cut): the call goes on while MediaConnections opens the
   * connection again; only when it is not back within OWN_SFU_GRACE_MS does the call end.
   */
  #ownSfuDropped(reason: string): void {
    if (this.#ownSfuLost) return;
    const at = Date.now();
    const timer = setTimeout(() => {
      this.#end({ kind: 'failed', error: new RecorderError(`lost the SFU connection and it was not back within ${OWN_SFU_GRACE_MS} ms: ${reason}`, 'MRR_LIVEKIT_LOST') });
    }, OWN_SFU_GRACE_MS);
    this.#ownSfuLost = { at, timer };
    this.#cleanups.push(() => clearTimeout(timer));
    this.#log.warn({ reason }, 'lost our own SFU connection; opening it again');
    for (const listener of this.#ownSfuListeners) listener({ type: 'lost', at, reason });
    void this.#deps.notices.send("I lost the connection to the call's media server and am connecting again; until I am back, the recording is silent.");
  }

  async #ownSfuBack(ownServiceUrl: string, how: 'opened' | 'resumed'): Promise<void> {
    const lost = this.#ownSfuLost;
    if (!lost) return; // the first connection
    this.#ownSfuLost = undefined;
    clearTimeout(lost.timer);
    const at = Date.now();
    this.#log.info({ awayMs: at - lost.at }, 'our own SFU connection is back');
    for (const listener of this.#ownSfuListeners) listener({ type: 'back', at, lostAt: lost.at });
    void this.#deps.notices.send(`I am connected to the call's media again, after ${formatDuration(at - lost.at)}; the recording has a gap there, stated in its manifest.`);
    // A new connection: our voice track went with the old one (the SDK's own resume publishes it again).
    if (how === 'opened') await this.#startVoice(ownServiceUrl);
  }

  /** Says in our membership what the bot now produces (recording, streaming), so members' clients can show it. */
  async announce(outputs: ReadonlyArray<'recording' | 'stream'>): Promise<void> {
    const consent = { requestedBy: this.#request.requestedBy, since: this.#request.requestedAt, outputs };
    await this.#session?.updateApplicationData(consentData(consent)).catch((err: unknown) => this.#log.warn({ err }, 'could not update our membership'));
  }

  /** Rooms uploads go to with the session device (encrypted like everything it sends). */
  get uploader(): { client: MatrixClient; homeserverUrl: string; accessToken: string; encrypted: boolean } {
    return { client: this.#client, homeserverUrl: this.#deps.config.homeserver.url, accessToken: this.#device.accessToken, encrypted: this.encrypted };
  }

  async #enter(checked: Preflight): Promise<void> {
    const { config } = this.#deps;
    const room = await waitForRoom(this.#client, this.#request.roomId, config.rtc.syncTimeoutMs);
    const session = this.#client.matrixRTC.getRoomSession(room);
    this.#session = session;
    const onKey = this.#keyHandler(this.ownBackendIdentity);
    // Encrypted Matrix 2.0 members whose membership this new device cannot decrypt: known by their keys.
    const unreadable =
      this.#mediaKeys && checked.evidence.unreadable.length > 0
        ? new UnreadableMembers({ client: this.#client, room, evidence: checked.evidence.unreadable, onKey: (identity, index, key) => onKey(key, index, undefined, identity), log: this.#log })
        : undefined;
    if (unreadable) this.#cleanups.push(() => unreadable.dispose());
    const roster = new CallRoster(session, this.own, unreadable);
    this.#roster = roster;
    const members = await waitForMembers(session, roster, unreadable !== undefined, 5_000);
    if (members.length === 0 && !unreadable) throw noCallError();

    const ownServiceUrl = await this.#joinMembership(room, session, checked, members, onKey);
    if (unreadable) this.#watchUnidentified(unreadable, roster);
    this.audio.start();
    this.#joinedAt = Date.now();
    this.video?.setMembers(members.map(memberKey));
    this.#media = this.#connectMedia(roster, ownServiceUrl);
    const watcher = watchCall(session, roster, this.own, config.rtc.emptyCallGraceMs, (reason) => this.#end(reason), this.#log, (current) => {
      this.#nameSpeakers(roster);
      this.video?.setMembers(current.map(memberKey));
      for (const listener of this.#memberListeners) listener(current);
      void this.#media?.apply(planConnections(ownServiceUrl, current)).catch((err: unknown) => this.#log.error({ err }, 'connecting to a new SFU failed'));
    });
    this.#cleanups.push(() => watcher.dispose());
    await this.#media.apply(planConnections(ownServiceUrl, members));
    await this.#startVoice(ownServiceUrl);
  }

  /** Our voice track on our own connection; without it the call goes on, only unspoken. */
  async #startVoice(ownServiceUrl: string): Promise<void> {
    const room = this.#media?.connection(ownServiceUrl)?.room;
    if (!this.#voice || !room) return;
    try {
      await this.#voice.start(room);
    } catch (err) {
      this.#log.error({ err }, 'could not publish our voice track');
      this.#voice = undefined;
      await this.#deps.notices.send(`I could not publish my audio track, so I cannot say aloud that this call is recorded or streamed (${describeError(err)}).`);
    }
  }

  /** A bridged caller's voice, one 10 ms frame (48 kHz mono) at a time, as it arrives. */
  sendAudio(samples: Int16Array): void {
    this.#voice?.push(samples);
  }

  /** Says `text` aloud in the call (resolves when played out; false when the bot has no voice here). */
  async say(text: string): Promise<boolean> {
    if (!this.#voice) return false;
    await this.#voice.say(text);
    return true;
  }

  /** Media keys come from js-sdk's key exchange (Olm to-device), per sender identity and index. */
  #keyHandler(ownBackendIdentity: string): KeyHandler {
    const mediaKeys = this.encrypted ? new MediaKeys() : undefined;
    this.#mediaKeys = mediaKeys;
    return (key: Uint8Array, index: number, _member: unknown, identity: string) => {
      if (identity === ownBackendIdentity) {
        this.#voice?.useOwnKey(index, key); // our own key: for what we publish
        return;
      }
      this.#log.info({ identity, index }, 'media key received');
      try {
        mediaKeys?.set(identity, index, key);
      } catch (err) {
        // Thrown into js-sdk's emitter it would only break its key handling; the refusal names the fault.
        this.#log.warn({ err }, 'a media key was refused');
      }
    };
  }

  /** Publishes our membership; returns the SFU we publish on. */
  async #joinMembership(room: Room, session: MatrixRTCSession, checked: Preflight, members: CallMember[], onKey: KeyHandler): Promise<string> {
    const { config } = this.#deps;
    const discovery = { rtcTransports: () => this.#client._unstable_getRTCTransports(), clientWellKnown: () => fetchWellKnown(config.homeserver.url) };
    const { transport, source } = await discoverOwnTransport(discovery, config.rtc.livekitServiceUrl, this.#log);
    const advertised = await advertisedAuthorizers(discovery, config.rtc.livekitServiceUrl);
    this.#policy = new AuthorizerPolicy({ advertised: [...advertised, transport.livekit_service_url], allowed: config.rtc.allowedAuthorizers });
    // A sticky membership always publishes on its own transport; a legacy one follows the call.
    const focusSelection = checked.kind === 'sticky' || members.length === 0 ? 'multi_sfu' : callFocusSelection(oldestMembershipContent(room, members));
    this.#log.info(
      { ownTransport: transport.livekit_service_url, source, focusSelection, kind: checked.kind, members: members.map((m) => ({ userId: m.userId, kind: m.kind })), unreadable: checked.evidence.unreadable.length },
      'call found',
    );
    if (this.#mediaKeys) {
      session.on(MatrixRTCSessionEvent.EncryptionKeyChanged, onKey);
      this.#cleanups.push(() => session.off(MatrixRTCSessionEvent.EncryptionKeyChanged, onKey));
    }
    const { delayedLeaveScheduled } = await joinCall(
      session,
      this.#client,
      this.own,
      {
        kind: checked.kind,
        transport,
        focusSelection,
        encrypted: this.encrypted,
        delayedLeaveEventDelayMs: config.rtc.delayedLeaveEventDelayMs,
        timeoutMs: config.rtc.syncTimeoutMs,
        consent: { requestedBy: this.#request.requestedBy, since: this.#request.requestedAt, outputs: [] },
      },
      this.#log,
    );
    if (!delayedLeaveScheduled) await this.#deps.notices.send(NO_DELAYED_LEAVE_MESSAGE);
    return ownConnectionUrl(focusSelection, transport, members);
  }

  /** Unreadable members send their key once they see our membership; whoever has not by then cannot be received yet. */
  #watchUnidentified(unreadable: UnreadableMembers, roster: CallRoster): void {
    const timer = setTimeout(() => {
      const missing = unreadable.unidentified(roster.readable());
      if (missing.length === 0) return;
      this.#log.warn({ missing }, 'encrypted call memberships we cannot read, and no media key from those members');
      void this.#deps.notices.send(
        `I cannot read the call membership of ${[...new Set(missing.map((m) => m.userId))].join(', ')}: it is end-to-end encrypted and was sent ` +
          'before my device existed (Matrix 2.0 calls), and they have not sent me their media key. I will record them once they do, or once they renew their membership.',
      );
    }, UNIDENTIFIED_GRACE_MS);
    this.#cleanups.push(() => clearTimeout(timer));
  }

  #connectMedia(roster: CallRoster, ownServiceUrl: string): MediaConnections {
    const { config } = this.#deps;
    const mediaKeys = this.#mediaKeys;
    const decryption = mediaKeys
      ? new DecryptionReports(
          (identity) => {
            const m = roster.memberFor(identity);
            return m ? `${m.userId} (device ${m.deviceId})` : identity;
          },
          (text) => void this.#deps.notices.send(text),
          this.#log,
          (identity) => mediaKeys.has(identity),
        )
      : undefined;
    this.#decryption = decryption;
    if (decryption) this.#cleanups.push(() => decryption.dispose());
    const unreachable = new Set<string>();
    return new MediaConnections({
      roomId: this.#request.roomId,
      own: this.own,
      ownMembership: this.kind,
      openIdToken: () => this.#client.getOpenIdToken() as never,
      policy: this.#policy!,
      transportlessIdentities: () => membersWithoutTransport(roster.members()).map((m) => m.identity),
      participantName: this.#request.participant?.displayName ?? `${config.bot.displayName} (recording)`,
      log: this.#log,
      ...(mediaKeys && decryption
        ? {
            encryption: elementCallE2eeOptions(),
            mediaKeys,
            onE2eeState: (identity, state) => {
              decryption.update(identity, state);
              if (!DECRYPTING.has(state)) this.#realSince.set(identity, undefined);
              else if (this.#realSince.get(identity) === undefined) this.#realSince.set(identity, Date.now());
            },
            onUndecryptedMedia: (identity) => decryption.undecryptedMedia(identity),
          }
        : {}),
      onAudioTrack: (track) => this.#onAudioTrack(roster, track.identity, track.frames),
      ...(this.video
        ? {
            onVideoTrack: (track: { identity: string; source: 'camera' | 'screen'; frames: AsyncIterable<I420> }) => {
              const member = roster.memberFor(track.identity);
              this.video!.addTrack(member ? memberKey(member) : track.identity, track.frames, track.source);
            },
            videoCanvas: { width: this.#deps.config.recording.videoWidth, height: this.#deps.config.recording.videoHeight },
          }
        : {}),
      onConnectFailed: (planned, err) => {
        this.#log.error({ err, serviceUrl: planned.serviceUrl }, 'could not connect to a member SFU');
        // Retried at every membership change; the room hears about each SFU once.
        if (unreachable.has(planned.serviceUrl)) return;
        unreachable.add(planned.serviceUrl);
        if (err instanceof RefusedTargetError) {
          void this.#deps.notices.send(refusedSfuSentence(planned.users, err));
          return;
        }
        const who = roster.members().filter((m) => planned.identities.includes(m.identity)).map((m) => m.userId);
        void this.#deps.notices.send(`I cannot receive the media of ${[...new Set(who)].join(', ') || 'some members'}: ${describeError(err)}`);
      },
      onConnectionLost: (serviceUrl, reason) => {
        if (serviceUrl === ownServiceUrl) this.#ownSfuDropped(reason);
        else this.#log.warn({ serviceUrl, reason }, 'lost a subscribe-only SFU connection');
      },
      onConnectionOpen: (serviceUrl, how) => {
        if (serviceUrl === ownServiceUrl) void this.#ownSfuBack(ownServiceUrl, how);
      },
      onConnectionInterrupted: (serviceUrl) => {
        if (serviceUrl === ownServiceUrl) this.#ownSfuDropped('the SFU connection was interrupted');
      },
    });
  }

  #onAudioTrack(roster: CallRoster, identity: string, frames: AsyncIterable<AudioFrame>): void {
    const member = roster.memberFor(identity);
    this.#heard.set(identity, member);
    if (!this.encrypted) this.#realSince.set(identity, Date.now());
    if (!member) this.#log.warn({ identity }, 'audio from a LiveKit participant without a call membership (yet)');
    const key = member ? memberKey(member) : identity;
    const speaker: Speaker = { key, label: safeFileLabel(key), ...(member ? { userId: member.userId, deviceId: member.deviceId } : {}) };
    if (!member) this.#unnamed.set(identity, speaker);
    this.audio.addTrack(speaker, this.#timeFirstFrame(key, frames));
    for (const listener of this.#memberListeners) listener(this.members());
  }

  /**
   * A track can arrive before we know whose it is (a Matrix 2.0 member identified only by the
   * media key that comes later): name its speaker once the roster knows the identity.
   */
  #nameSpeakers(roster: CallRoster): void {
    for (const [identity, speaker] of this.#unnamed) {
      const member = roster.memberFor(identity);
      if (!member) continue;
      speaker.userId = member.userId;
      speaker.deviceId = member.deviceId;
      this.#heard.set(identity, member);
      this.#unnamed.delete(identity);
      this.#log.info({ identity, userId: member.userId }, 'speaker identified');
    }
  }

  /** Logs when the call's first decoded audio frame arrives, measured from the request. */
  #timeFirstFrame(speaker: string, frames: AsyncIterable<AudioFrame>): AsyncIterable<AudioFrame> {
    if (this.#firstFrameLogged) return frames;
    const call = this;
    return (async function* () {
      for await (const frame of frames) {
        if (!call.#firstFrameLogged) {
          call.#firstFrameLogged = true;
          call.#markFirstAudio(Date.now());
          call.#log.info({ speaker, msSinceRecord: Date.now() - call.#request.requestedAt }, 'first audio frame decoded');
        }
        yield frame;
      }
    })();
  }

  /**
   * Leaves the call: media connections closed (every track ends), the shared clocks played out
   * and stopped, our membership removed (unless it already was). The client stays up for delivery.
   */
  async hangUp(membershipGone = false): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    await this.#voice?.close().catch((err: unknown) => this.#log.warn({ err }, 'closing our voice track failed'));
    await this.#media?.close();
    // A removed membership has nothing to leave; otherwise leave cleanly (the delayed leave is cancelled).
    if (!membershipGone) {
      await this.#session?.leaveRoomSession(5_000).catch((err: unknown) => this.#log.warn({ err }, 'leaving the call failed; the delayed leave event will remove the membership'));
    }
    await this.audio.finish();
    this.video?.stop();
    if (this.#mediaKeys) this.#log.info({ keys: this.#mediaKeys.describe(), e2ee: Object.fromEntries(this.#decryption?.states ?? []) }, 'media keys and E2EE states at the end');
    this.#mediaKeys?.clear();
  }

  /**
   * Stops the session client and deletes the device (after delivery). With `leaveRoom`, the call
   * user leaves the room too, so it stays only in rooms it records; never when another worker
   * records this room now (it is the same Matrix user there).
   */
  async close(opts: { leaveRoom: boolean } = { leaveRoom: false }): Promise<void> {
    this.#log.info({ rooms: this.#client.getRooms().map((r) => r.roomId) }, 'rooms the session device synced');
    if (opts.leaveRoom && !this.#request.participant) {
      const { config, registration } = this.#deps;
      const as = new AppserviceClient(config.homeserver.url, registration.as_token);
      await as
        .request('leaving the room as the call user', 'POST', roomPath(this.#request.roomId, 'leave'), this.#device.userId, {})
        .then(() => this.#log.info('the call user left the room'))
        .catch((err: unknown) => this.#log.warn({ err }, 'the call user could not leave the room'));
    }
    this.#client.stopClient();
    await logoutSessionDevice(this.#deps.config.homeserver.url, this.#device).catch((err: unknown) => this.#log.warn({ err }, 'could not log out the session device'));
  }
}
