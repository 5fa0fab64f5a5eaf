// The LiveKit side of a call session: one SfuConnection per planned SFU (protocol notes §5.3),
// opened as the plan grows (a member may arrive on a new SFU mid-call), credentials from the
// authorizer of that SFU, every audio track handed on with the Matrix member it belongs to.
import type { AudioFrame, E2EEOptions } from '@livekit/rtc-node';
import type { Logger } from '../observability/logger.ts';
import { RecorderError } from '../errors.ts';
import { RefusedTargetError, type Admission, type AuthorizerPolicy } from '../rtc/authorizer-guard.ts';
import type { PlannedConnection } from '../rtc/connection-plan.ts';
import { fetchLegacyCredentials, fetchSlotCredentials, fetchSubscribeCredentials, type LiveKitCredentials, type OpenIdToken } from '../rtc/credentials.ts';
import type { MembershipKind } from '../rtc/own-membership.ts';
import { SfuConnection } from '../media/livekit/sfu-connection.ts';
import { watchSfuReturn } from '../media/livekit/sfu-return.ts';
import type { I420 } from '../media/video/i420.ts';
import { setParticipantKey, type E2eeState } from '../media/livekit/participant-keys.ts';
import type { MediaKeys } from './media-keys.ts';

export interface ReceivedAudioTrack {
  identity: string;
  trackSid: string;
  serviceUrl: string;
  frames: AsyncIterable<AudioFrame>;
}

export interface MediaConnectionsOptions {
  roomId: string;
  own: { userId: string; deviceId: string; memberId: string };
  /** Our membership's kind decides the identity peers expect where we publish (protocol notes §7.6). */
  ownMembership: MembershipKind;
  openIdToken(): Promise<OpenIdToken>;
  /** Which authorizers we may contact: members choose the URLs (authorizer-guard.ts). */
  policy: AuthorizerPolicy;
  /**
   * Identities of members whose SFU nobody can tell (encrypted Matrix 2.0 memberships we cannot
   * read): admitted on our own connection only, where such members publish in practice.
   */
  transportlessIdentities?(): string[];
  encryption?: E2EEOptions;
  /** Our LiveKit participant name on every connection whose JWT lets us set it. */
  participantName?: string;
  log: Logger;
  onAudioTrack(track: ReceivedAudioTrack): void;
  /** Given for video recordings: every video track, as I420 frames. */
  onVideoTrack?(track: { identity: string; trackSid: string; source: 'camera' | 'screen'; frames: AsyncIterable<I420> }): void;
  /** The recorded grid's size, for video recordings: cameras are asked for the layer their tile needs. */
  videoCanvas?: { width: number; height: number };
  onParticipantLeft?(identity: string): void;
  /** A connection dropped for good: the session decides whether to go on. */
  onConnectionLost(serviceUrl: string, reason: string): void;
  /** A connection is open: `opened` anew (the first time, or after it dropped), or `resumed` by the SDK after an interruption. */
  onConnectionOpen?(serviceUrl: string, how: 'opened' | 'resumed'): void;
  /** The SDK is connecting a connection again by itself (an SFU restart); `onConnectionOpen` follows when it is back. */
  onConnectionInterrupted?(serviceUrl: string): void;
  /** Members' media keys (E2EE calls): applied to every connection as it opens. */
  mediaKeys?: MediaKeys;
  onE2eeState?(identity: string, state: E2eeState): void;
  /** Frames of an unmuted track arrive undecrypted (SfuConnectionOptions.onUndecryptedMedia). */
  onUndecryptedMedia?(identity: string): void;
  /** A subscribe-only connection could not be opened (authorizer or SFU failure). */
  onConnectFailed(planned: PlannedConnection, error: unknown): void;
}

/** A dropped connection is opened again after this, doubling up to the maximum while it keeps failing. */
export const RECONNECT_INITIAL_MS = 1_000;
// At most 4 s between attempts: an SFU that comes back is found within seconds (a gap in the
// recording at most its outage plus a few seconds), at the cost of an authorizer request per try.
export const RECONNECT_MAX_MS = 4_000;
/** How long the SDK may try to resume an interrupted connection before it is opened anew. */
export const RESUME_WAIT_MS = 3_000;

export class MediaConnections {
  readonly #opts: MediaConnectionsOptions;
  readonly #connections = new Map<string, SfuConnection>();
  /**
   * SFUs whose connection is being opened: taken before the first await (admission, credentials),
   * so nothing opens a second connection with the same identity meanwhile (LiveKit would drop the
   * first one: DUPLICATE_IDENTITY).
   */
  readonly #opening = new Set<string>();
  #closed = false;
  /** Per SFU: stops applying members' media keys to that connection. */
  readonly #detach = new Map<string, () => void>();
  /** The latest plan: what a reconnection opens again. */
  #plan: PlannedConnection[] = [];
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectDelayMs = RECONNECT_INITIAL_MS;
  /** Per SFU whose connection is interrupted or dropped: stops watching for its server's return. */
  readonly #returnWatches = new Map<string, () => void>();
  /** The apply() in progress, if any: the next one waits for it. */
  #applying: Promise<void> = Promise.resolve();
  /** The latest plan's identities per SFU: whose tracks each connection takes. */
  #expected = new Map<string, ReadonlySet<string>>();

  constructor(opts: MediaConnectionsOptions) {
    this.#opts = opts;
  }

  get serviceUrls(): string[] {
    return [...this.#connections.keys()];
  }

  connection(serviceUrl: string): SfuConnection | undefined {
    return this.#connections.get(serviceUrl);
  }

  /**
   * Opens connections for planned SFUs not yet connected. Failing to open our own connection is
   * thrown; any other failure is handed to `onConnectFailed` (those members' media is missing,
   * the others' is still recorded) and retried at the next plan change. Calls run one after the
   * other: two overlapping calls would both open the same SFU, and LiveKit drops the first
   * connection of an identity that connects twice (DUPLICATE_IDENTITY).
   */
  apply(plan: PlannedConnection[]): Promise<void> {
    // Expectations change at once, even while an earlier apply() still opens a connection.
    this.#expected = new Map(plan.map((p) => [p.serviceUrl, new Set(p.identities)]));
    this.#plan = plan;
    for (const serviceUrl of this.#returnWatches.keys()) if (!this.#expected.has(serviceUrl)) this.#stopWatchingReturn(serviceUrl);
    for (const connection of this.#connections.values()) connection.recheckHeld();
    const run = this.#applying.then(() => this.#apply(plan));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  async #apply(plan: PlannedConnection[]): Promise<void> {
    for (const planned of plan) {
      if (this.#closed || this.#connections.has(planned.serviceUrl) || this.#opening.has(planned.serviceUrl)) continue;
      try {
        await this.#open(planned);
      } catch (err) {
        if (planned.own && err instanceof RefusedTargetError) {
          throw new RecorderError(err.message, err.errcode, { retryable: false, cause: err, userMessage: refusedSfuSentence(planned.users, err) });
        }
        if (planned.own) throw err;
        this.#opts.onConnectFailed(planned, err);
      }
    }
  }

  /** Whether `identity` is a member expected on the SFU of `serviceUrl`. */
  #admits(planned: PlannedConnection, identity: string): boolean {
    if (this.#expected.get(planned.serviceUrl)?.has(identity)) return true;
    return planned.own && (this.#opts.transportlessIdentities?.().includes(identity) ?? false);
  }

  async #open(planned: PlannedConnection): Promise<void> {
    this.#opening.add(planned.serviceUrl);
    try {
      await this.#openReserved(planned);
    } finally {
      this.#opening.delete(planned.serviceUrl);
    }
  }

  async #openReserved(planned: PlannedConnection): Promise<void> {
    // Checked before anything is sent: the URL is a member's choice.
    const admission = await this.#opts.policy.admit(planned.serviceUrl);
    const credentials = await this.#credentials(planned, admission);
    const log = this.#opts.log.child({ serviceUrl: planned.serviceUrl, livekitRoom: credentials.room });
    // Shutdown may have begun while the authorizer answered: nothing is opened after it.
    if (this.#closed) {
      log.info('not connecting: the session is ending');
      return;
    }
    const participantName = this.#participantName(credentials, log);
    let resumeTimer: ReturnType<typeof setTimeout> | undefined;
    const connection: SfuConnection = new SfuConnection({
      url: credentials.url,
      jwt: credentials.jwt,
      log,
      ...(this.#opts.encryption ? { encryption: this.#opts.encryption } : {}),
      ...(participantName ? { participantName } : {}),
      admits: (identity) => this.#admits(planned, identity),
      onAudioTrack: (track) => this.#opts.onAudioTrack({ ...track, serviceUrl: planned.serviceUrl }),
      ...(this.#opts.onVideoTrack ? { onVideoTrack: this.#opts.onVideoTrack } : {}),
      ...(this.#opts.videoCanvas ? { videoCanvas: this.#opts.videoCanvas } : {}),
      onParticipantLeft: (identity) => this.#opts.onParticipantLeft?.(identity),
      onE2eeState: (identity, state) => this.#opts.onE2eeState?.(identity, state),
      onUndecryptedMedia: (identity) => this.#opts.onUndecryptedMedia?.(identity),
      onDisconnected: (reason) => this.#dropped(planned.serviceUrl, connection, reason, credentials.url),
      onReconnecting: () => {
        // A connection already given up may still be resumed by the SDK: what it does is no news.
        if (this.#connections.get(planned.serviceUrl) !== connection) return;
        this.#opts.onConnectionInterrupted?.(planned.serviceUrl);
        // Measured with a LiveKit restart: rtc-node kept trying to resume for ~15 s, ~10 s after the
        // server was back, before it gave up. A connection not resumed soon is opened anew instead.
        clearTimeout(resumeTimer);
        resumeTimer = setTimeout(() => this.#dropped(planned.serviceUrl, connection, `not resumed within ${RESUME_WAIT_MS} ms`, credentials.url), RESUME_WAIT_MS);
        this.#watchReturn(planned.serviceUrl, credentials.url);
      },
      onReconnected: () => {
        clearTimeout(resumeTimer);
        if (this.#connections.get(planned.serviceUrl) !== connection) return;
        this.#stopWatchingReturn(planned.serviceUrl);
        this.#opts.onConnectionOpen?.(planned.serviceUrl, 'resumed');
      },
    });
    this.#connections.set(planned.serviceUrl, connection);
    try {
      await connection.connect();
    } catch (err) {
      if (this.#connections.get(planned.serviceUrl) === connection) this.#connections.delete(planned.serviceUrl);
      throw err;
    }
    if (this.#closed) {
      // close() ran during connect(); whether or not it saw this connection, it is closed here too.
      this.#connections.delete(planned.serviceUrl);
      await connection.close();
      log.info('closed a connection that finished opening after the session began to end');
      return;
    }
    if (this.#opts.mediaKeys) {
      const detach = this.#opts.mediaKeys.attach((identity, index, key) => {
        try {
          setParticipantKey(connection.room, identity, index, key);
        } catch (err) {
          log.error({ err, identity, index }, 'could not set a media key');
        }
      });
      this.#detach.set(planned.serviceUrl, detach);
    }
    this.#reconnectDelayMs = RECONNECT_INITIAL_MS;
    this.#stopWatchingReturn(planned.serviceUrl);
    log.info({ own: planned.own, identity: credentials.identity, endpoint: credentials.endpoint, expected: planned.identities.length }, 'SFU connection open');
    this.#opts.onConnectionOpen?.(planned.serviceUrl, 'opened');
  }

  /** Our name when the JWT lets us set it (LiveKit refuses silently otherwise); else says why it stays unset. */
  #participantName(credentials: LiveKitCredentials, log: Logger): string | undefined {
    const name = this.#opts.participantName;
    if (!name || credentials.canUpdateOwnMetadata) return name;
    log.info(
      { name },
      'the authorizer (lk-jwt-service <= v0.5.0) grants no canUpdateOwnMetadata, so our LiveKit participant name is not set; consent is shown in Matrix instead (the call member is named as recording)',
    );
    return undefined;
  }

  #credentials(planned: PlannedConnection, admission: Admission): Promise<LiveKitCredentials> {
    const { roomId, own } = this.#opts;
    // A legacy membership makes peers expect `@user:server:DEVICE` where we publish (/sfu/get); a
    // sticky one the hash of [user, device, member id] (/get_token with that member id).
    if (planned.own) {
      return this.#opts
        .openIdToken()
        .then((token) => (this.#opts.ownMembership === 'sticky' ? fetchSlotCredentials(planned.serviceUrl, roomId, token, own, admission) : fetchLegacyCredentials(planned.serviceUrl, roomId, token, own.deviceId, admission)));
    }
    return fetchSubscribeCredentials(planned.serviceUrl, roomId, () => this.#opts.openIdToken(), own, admission, this.#opts.log);
  }

  /** A connection that dropped for good is forgotten, reported, and opened again (fresh credentials) while its SFU is planned. */
  #dropped(serviceUrl: string, connection: SfuConnection, reason: string, livekitUrl: string): void {
    if (this.#closed || this.#connections.get(serviceUrl) !== connection) return;
    this.#watchReturn(serviceUrl, livekitUrl);
    this.#connections.delete(serviceUrl);
    this.#detach.get(serviceUrl)?.();
    this.#detach.delete(serviceUrl);
    // Its frame readers and E2EE watch end with it (rtc-node has already left the LiveKit room).
    void connection.close().catch((err: unknown) => this.#opts.log.warn({ err, serviceUrl }, 'closing a dropped SFU connection failed'));
    this.#opts.onConnectionLost(serviceUrl, reason);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const delay = this.#reconnectDelayMs;
    this.#reconnectDelayMs = Math.min(RECONNECT_MAX_MS, delay * 2);
    this.#reconnectTimer = setTimeout(() => this.#reconnect(), delay);
  }

  /** Opens what the plan lacks; while something is still missing, tries again after the next backoff step. */
  #reconnect(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this.#closed) return;
    void this.apply(this.#plan)
      .catch((err: unknown) => this.#opts.log.warn({ err }, 'reconnecting to an SFU failed'))
      .then(() => {
        const missing = this.#plan.filter((p) => !this.#connections.has(p.serviceUrl)).map((p) => p.serviceUrl);
        if (missing.length === 0) return;
        this.#opts.log.info({ missing, retryInMs: this.#reconnectDelayMs }, 'SFUs still not connected; trying again');
        this.#scheduleReconnect();
      });
  }

  /**
   * Watches an interrupted or dropped connection's server: when it answers again after it was
   * seen away (a restart), resuming cannot work (the server lost the session), so a connection
   * still waiting on the SDK's resume is given up and the SFU is opened anew at once.
   */
  #watchReturn(serviceUrl: string, livekitUrl: string): void {
    if (this.#closed || this.#returnWatches.has(serviceUrl)) return;
    const stop = watchSfuReturn(livekitUrl, () => {
      if (this.#closed) return;
      const interrupted = this.#connections.get(serviceUrl);
      this.#opts.log.info({ serviceUrl, livekitUrl, resuming: interrupted !== undefined }, 'the SFU answers again after it was away; connecting now');
      // Still registered while dropping: no second watch starts for the same outage.
      if (interrupted) this.#dropped(serviceUrl, interrupted, 'the SFU restarted (it was away and answers again)', livekitUrl);
      this.#returnWatches.delete(serviceUrl);
      this.#reconnectDelayMs = RECONNECT_INITIAL_MS;
      this.#reconnect();
    });
    this.#returnWatches.set(serviceUrl, stop);
  }

  #stopWatchingReturn(serviceUrl: string): void {
    this.#returnWatches.get(serviceUrl)?.();
    this.#returnWatches.delete(serviceUrl);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    for (const stop of this.#returnWatches.values()) stop();
    this.#returnWatches.clear();
    for (const detach of this.#detach.values()) detach();
    this.#detach.clear();
    await Promise.all(
      [...this.#connections.values()].map((c) => c.close().catch((err: unknown) => this.#opts.log.warn({ err }, 'closing an SFU connection failed'))),
    );
    this.#connections.clear();
  }
}

/** The room's sentence for an SFU we will not contact: whose membership named it, and why (never its address). */
export function refusedSfuSentence(users: readonly string[], err: RefusedTargetError): string {
  const whose = users.length > 0 ? `the call membership of ${users.join(', ')}` : 'a call membership';
  return `I did not connect to the LiveKit SFU named in ${whose}: ${err.userMessage}. Media published there is not recorded.`;
}
