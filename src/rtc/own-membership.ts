// The bot's own call membership, published by matrix-js-sdk's MatrixRTCSession (the code Element
// Call runs) with a delayed leave event, in either of Element Call's two forms: the legacy state
// event, or the sticky `rtc.member` message event of its matrix_2_0 mode (protocol notes §2.2).
// What js-sdk only logs is checked here and said loudly: a delayed leave that was not scheduled
// (e.g. Synapse's 403 for an over-long delay) would leave the bot in the call after a crash.
import { randomUUID } from 'node:crypto';
import type { MatrixClient } from 'matrix-js-sdk';
import { MatrixRTCSessionEvent, type MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import { computeRtcIdentityRaw } from 'matrix-js-sdk/lib/matrixrtc/membershipData/rtc.js';
import { RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { LivekitTransport } from './transports.ts';
import { publishPlaintextCopy } from './plaintext-membership.ts';
import type { FocusSelection } from './connection-plan.ts';

export const CALL_MEMBER_EVENT = 'org.matrix.msc3401.call.member';
/** The sticky membership of Matrix 2.0 calls (MSC4143 on MSC4354 sticky events), a message event. */
export const RTC_MEMBER_EVENT = 'org.matrix.msc4143.rtc.member';
/** What /versions advertises when the homeserver accepts sticky events. */
export const STICKY_EVENTS_FEATURE = 'org.matrix.msc4354';

/** `legacy`: the call.member state event; `sticky`: the rtc.member sticky event. */
export type MembershipKind = 'legacy' | 'sticky';

export interface OwnIdentity {
  userId: string;
  deviceId: string;
  memberId: string;
}

/**
 * Our member id and the LiveKit identity peers will key our media under, which follow from the
 * membership kind (protocol notes §7.6): legacy members are `<user>:<device>`; sticky members
 * are a fresh UUID per join (as Element Call does) and the hash of [user, device, member id].
 */
export async function ownIdentity(userId: string, deviceId: string, kind: MembershipKind): Promise<OwnIdentity & { rtcBackendIdentity: string }> {
  if (kind === 'legacy') return { userId, deviceId, memberId: `${userId}:${deviceId}`, rtcBackendIdentity: `${userId}:${deviceId}` };
  const memberId = randomUUID();
  return { userId, deviceId, memberId, rtcBackendIdentity: await computeRtcIdentityRaw(userId, deviceId, memberId) };
}

export interface JoinOptions {
  kind: MembershipKind;
  transport: LivekitTransport;
  /** Sticky memberships always publish on their own transport (multi-SFU). */
  focusSelection: FocusSelection;
  encrypted: boolean;
  delayedLeaveEventDelayMs: number;
  timeoutMs: number;
  /** Said in the membership itself, so any client that shows members can show that this one records. */
  consent: RecordingConsent;
}

/** What the bot's membership says about the recording (extra fields that clients may show). */
export interface RecordingConsent {
  requestedBy: string;
  since: number;
  /** What the bot produces right now; empty while it joins. */
  outputs: ReadonlyArray<'recording' | 'stream'>;
}

/** Key of the consent object in our membership (legacy: top level; sticky: inside `application`). */
export const CONSENT_FIELD = 'matrixrtc_recorder.recording';

export function consentData(consent: RecordingConsent): Record<string, unknown> {
  return {
    [CONSENT_FIELD]: {
      recording: consent.outputs.includes('recording'),
      streaming: consent.outputs.includes('stream'),
      requested_by: consent.requestedBy,
      since: consent.since,
    },
  };
}

/** Joins; resolves once js-sdk sees our membership, saying whether the delayed leave is scheduled. */
export async function joinCall(
  session: MatrixRTCSession,
  client: MatrixClient,
  me: OwnIdentity,
  opts: JoinOptions,
  log: Logger,
): Promise<{ delayedLeaveScheduled: boolean }> {
  if (opts.kind === 'sticky' && !(await client.doesServerSupportUnstableFeature(STICKY_EVENTS_FEATURE))) {
    throw new RecorderError(`the homeserver does not advertise ${STICKY_EVENTS_FEATURE}`, 'MRR_NO_STICKY_EVENTS', {
      retryable: false,
      userMessage:
        `the homeserver does not support sticky events (${STICKY_EVENTS_FEATURE}), which a Matrix 2.0 call membership needs. ` +
        'Enable them on the homeserver (Synapse: experimental_features.msc4354_enabled) or set rtc.membershipMode to legacy.',
    });
  }
  const visible = waitForOwnMembership(session, me, opts.timeoutMs);
  session.joinRTCSession(
    me,
    [{ ...opts.transport }],
    // multi_sfu: publish on our own transport; oldest_membership: js-sdk follows the oldest member.
    opts.focusSelection === 'multi_sfu' ? { ...opts.transport } : undefined,
    {
      manageMediaKeys: opts.encrypted,
      delayedLeaveEventDelayMs: opts.delayedLeaveEventDelayMs,
      // js-sdk's default restart interval (5 s) equals short delays: a restart arriving a few ms
      // late finds the leave already sent. Restart three times per delay, at most every 5 s.
      delayedLeaveEventRestartMs: Math.min(5_000, Math.floor(opts.delayedLeaveEventDelayMs / 3)),
      networkErrorRetryMs: 1000,
      // Element Call's matrix_2_0 mode: rtc.member sticky events instead of the state event.
      unstableSendStickyEvents: opts.kind === 'sticky',
      applicationData: consentData(opts.consent),
    },
  );
  await visible;
  log.info({ kind: opts.kind, focusSelection: opts.focusSelection, serviceUrl: opts.transport.livekit_service_url }, 'call membership published');
  const scheduled = await delayedLeaveScheduled(client, session.room.roomId, me, opts.kind, log);
  if (opts.kind === 'sticky' && opts.encrypted) {
    await publishPlaintextCopy(client, session.room, me, log).catch((err: unknown) => log.warn({ err }, 'could not send the plaintext copy of our membership'));
  }
  return { delayedLeaveScheduled: scheduled };
}

export const NO_DELAYED_LEAVE_MESSAGE =
  'Warning: the homeserver did not schedule my delayed leave event (MSC4140), so if my worker crashes I will stay ' +
  "in the call until my membership expires. Check the homeserver's max_event_delay_duration (it must exceed " +
  'rtc.delayedLeaveEventDelayMs) and the worker log.';

function waitForOwnMembership(session: MatrixRTCSession, me: OwnIdentity, timeoutMs: number): Promise<void> {
  const mine = () => session.memberships.some((m) => m.userId === me.userId && m.deviceId === me.deviceId);
  return new Promise((resolve, reject) => {
    if (mine()) return resolve();
    const timer = setTimeout(() => {
      cleanup();
      reject(new RecorderError(`the bot's call membership did not appear within ${timeoutMs} ms`, 'MRR_MEMBERSHIP_TIMEOUT'));
    }, timeoutMs);
    const onChange = () => {
      if (!mine()) return;
      cleanup();
      resolve();
    };
    const onError = (error: unknown) => {
      cleanup();
      reject(membershipError(error));
    };
    const cleanup = () => {
      clearTimeout(timer);
      session.off(MatrixRTCSessionEvent.MembershipsChanged, onChange);
      session.off(MatrixRTCSessionEvent.MembershipManagerError, onError);
    };
    session.on(MatrixRTCSessionEvent.MembershipsChanged, onChange);
    session.on(MatrixRTCSessionEvent.MembershipManagerError, onError);
  });
}

/** Turns js-sdk's membership manager failure into an error with the Matrix errcode. */
export function membershipError(error: unknown): RecorderError {
  // js-sdk passes on what its requests threw: usually a MatrixError, but nothing guarantees an object.
  const e = (typeof error === 'object' && error !== null ? error : {}) as { errcode?: unknown; data?: { error?: unknown } | null; message?: unknown };
  // An errcode is a word such as M_FORBIDDEN; anything else is not one to show or to decide by.
  const errcode = typeof e.errcode === 'string' && /^[A-Za-z0-9_.]{1,64}$/.test(e.errcode) ? e.errcode : undefined;
  const said = typeof e.data?.error === 'string' ? e.data.error : typeof e.message === 'string' ? e.message : undefined;
  const detail = said?.trim() || describeThrown(error);
  return new RecorderError(`publishing the call membership failed: ${errcode ?? ''} ${detail}`.replace(/: +/, ': ').trim(), errcode ?? 'MRR_MEMBERSHIP', {
    cause: error,
    retryable: false,
    userMessage: `I could not publish my call membership: ${errcode ? `${errcode} ` : ''}${detail}.`,
  });
}

/** A thrown value in words, even one whose toString throws or that has none. */
function describeThrown(value: unknown): string {
  try {
    const text = String(value).trim();
    return text && text !== '[object Object]' ? text : 'an error without a message';
  } catch {
    return 'an error without a message';
  }
}

export interface ListedDelayedEvent {
  room_id: string;
  type: string;
  state_key?: string;
  content?: Record<string, unknown>;
  delay: number;
}

/**
 * Our scheduled leave among the user's delayed events: for a legacy membership the empty state
 * event under our device's state key; for a sticky one the sticky message event that carries
 * only our member id as its sticky key (it has no state key).
 */
export function isOwnDelayedLeave(e: ListedDelayedEvent, roomId: string, me: OwnIdentity, kind: MembershipKind): boolean {
  if (e.room_id !== roomId) return false;
  if (kind === 'legacy') return e.type === CALL_MEMBER_EVENT && typeof e.state_key === 'string' && e.state_key.includes(`_${me.deviceId}_`);
  return e.type === RTC_MEMBER_EVENT && e.state_key === undefined && e.content?.msc4354_sticky_key === me.memberId;
}

async function delayedLeaveScheduled(client: MatrixClient, roomId: string, me: OwnIdentity, kind: MembershipKind, log: Logger): Promise<boolean> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    // Synapse answers `delayed_events` (older MSC4140 shape); newer servers and js-sdk's types say `scheduled`.
    const listed = (await client._unstable_getDelayedEvents('scheduled')) as { scheduled?: ListedDelayedEvent[]; delayed_events?: ListedDelayedEvent[] };
    const ours = (listed.scheduled ?? listed.delayed_events ?? []).find((e) => isOwnDelayedLeave(e, roomId, me, kind));
    if (ours) {
      log.info({ delayMs: ours.delay }, 'delayed leave event scheduled');
      return true;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  log.error('the delayed leave event (MSC4140) of the call membership was NOT scheduled: a crash would leave the bot in the call');
  return false;
}
