// The Matrix side of a simulated Element Call peer: matrix-js-sdk's MatrixRTCSession publishes
// the call membership with a delayed leave and, in E2EE calls, makes, sends and rotates the peer's
// media key over Olm to-device messages. Two memberships, as Element Call's two modes publish them:
// 'legacy' (compatibility mode): the call.member state event, LiveKit credentials from /sfu/get
// with identity `@user:server:DEVICE`; 'sticky' (matrix_2_0 mode): a sticky rtc.member event under
// a fresh UUID member id, credentials from /get_token with the claimed ids, identity the hash of
// [user, device, member id]. The media side (rtc-node or a browser) is the caller's.
import { createClient, type MatrixClient, type Room as MatrixRoom } from 'matrix-js-sdk';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { OnlySignedDevicesIsolationMode } from 'matrix-js-sdk/lib/crypto-api/index.js';
import { MatrixRTCSessionEvent, type MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import { computeRtcIdentityRaw } from 'matrix-js-sdk/lib/matrixrtc/membershipData/rtc.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { routeSdkGlobalLogger, sdkLogger as clientLogger } from '../../src/rtc/sdk-logger.ts';
import { type TestUser, waitFor } from '../helpers/matrix.ts';
import type { SfuInfo, StackInfo } from '../stack/info.ts';

// js-sdk logs every sync and membership step; test output keeps only its errors.
const quiet = pino({ level: 'error' });
routeSdkGlobalLogger(sdkLogger, quiet);

export interface CallMemberOptions {
  stack: StackInfo;
  roomId: string;
  /** A user already joined to the room; a new one must be invited and joined by the caller. */
  user: TestUser;
  sfu?: SfuInfo;
  /** Delay of the peer's delayed leave event (MSC4140). */
  delayedLeaveMs?: number;
  /**
   * E2EE media: 'keys' exchanges media keys through js-sdk as Element Call does (the room must
   * be encrypted); 'withheld' encrypts with a key it never sends to anyone.
   */
  e2ee?: 'keys' | 'withheld';
  /** Which membership the peer publishes (Element Call's compatibility or matrix_2_0 mode); default 'legacy'. */
  membership?: 'legacy' | 'sticky';
  /**
   * Share media keys (and room keys) only with devices their owner cross-signed, like Element's
   * "exclude insecure devices"; the peer sets up its own cross-signing first, as Element does.
   */
  onlySignedDevices?: boolean;
}

export interface OwnKey {
  index: number;
  key: Uint8Array;
}

export interface CallMember {
  client: MatrixClient;
  session: MatrixRTCSession;
  sfu: SfuInfo;
  /** The LiveKit identity: `@user:server:DEVICE` (legacy, /sfu/get) or the member hash (sticky, /get_token). */
  identity: string;
  membership: 'legacy' | 'sticky';
  memberId: string;
  livekitRoom: string;
  livekit: { url: string; jwt: string };
  /** New LiveKit credentials from the member's authorizer (same identity and room). */
  fetchLivekit(): Promise<{ url: string; jwt: string }>;
  /** Calls `use` with the current own key (if any) and with every later one (rotations). */
  onOwnKey(use: (key: OwnKey) => void): void;
  /** Media keys other members sent us, per identity (E2EE 'keys' only): those received so far, then each new one. */
  onMemberKey(use: (identity: string, key: OwnKey) => void): void;
  /** Every own key so far, for checks that they leak nowhere. */
  ownKeys(): Uint8Array[];
  /** Leaves the MatrixRTC session (membership removed) and stops the client. */
  leave(): Promise<void>;
  /** Stops the client without leaving, like a crashed client. */
  abandon(): void;
}

async function startClient(user: TestUser, roomId: string, crypto: boolean, onlySignedDevices = false): Promise<{ client: MatrixClient; room: MatrixRoom }> {
  const client = createClient({ baseUrl: user.homeserverUrl, accessToken: user.accessToken, userId: user.userId, deviceId: user.deviceId, logger: clientLogger(quiet) });
  if (crypto) await client.initRustCrypto({ useIndexedDB: false });
  if (crypto && onlySignedDevices) await shareOnlyWithSignedDevices(client, user);
  await client.startClient({ initialSyncLimit: 1 });
  const room = await waitFor(async () => client.getRoom(roomId) ?? undefined, `${user.userId} to see ${roomId}`, 20_000, 100);
  return { client, room };
}

/** Element's verified-only sharing; js-sdk requires the user's own cross-signing for it. */
async function shareOnlyWithSignedDevices(client: MatrixClient, user: TestUser): Promise<void> {
  const crypto = client.getCrypto()!;
  if (!(await crypto.isCrossSigningReady())) {
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: (makeRequest) =>
        makeRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: user.userId }, password: user.password }).then(() => undefined),
    });
  }
  crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
}

export async function joinCallAsMember(opts: CallMemberOptions): Promise<CallMember> {
  const sfu = opts.sfu ?? opts.stack.sfus[0]!;
  const sticky = opts.membership === 'sticky';
  // A sticky membership in an encrypted room is an encrypted room event: even a peer that withholds its media key needs crypto.
  const { client, room } = await startClient(opts.user, opts.roomId, opts.e2ee === 'keys' || (sticky && opts.e2ee !== undefined), opts.onlySignedDevices);
  const session = client.matrixRTC.getRoomSession(room);
  // matrix_2_0 mode advertises no livekit_alias (js-sdk would drop it anyway); legacy mode keeps it for old clients.
  const transport = sticky ? { type: 'livekit', livekit_service_url: sfu.authorizerUrl } : { type: 'livekit', livekit_service_url: sfu.authorizerUrl, livekit_alias: opts.roomId };
  const memberId = sticky ? randomUUID() : `${opts.user.userId}:${opts.user.deviceId}`;
  const own = { userId: opts.user.userId, deviceId: opts.user.deviceId, memberId };
  // The identity js-sdk reports our own keys under, which follows the membership kind.
  const ownIdentity = sticky ? await computeRtcIdentityRaw(own.userId, own.deviceId, memberId) : `${own.userId}:${own.deviceId}`;

  const keys: OwnKey[] = opts.e2ee === 'withheld' ? [{ index: 0, key: randomBytes(16) }] : [];
  const ownListeners: Array<(key: OwnKey) => void> = [];
  const memberListeners: Array<(identity: string, key: OwnKey) => void> = [];
  // Like Element Call's key provider, every key received is kept: a listener that starts late (a
  // browser page still loading when a member sends its key to a joiner) gets them all.
  const memberKeys: Array<[string, OwnKey]> = [];
  if (opts.e2ee === 'keys') {
    session.on(MatrixRTCSessionEvent.EncryptionKeyChanged, (key, index, _member, identity) => {
      const entry = { index, key: Uint8Array.from(key) };
      if (identity !== ownIdentity) {
        memberKeys.push([identity, entry]);
        return memberListeners.forEach((use) => use(identity, entry));
      }
      keys.push(entry);
      ownListeners.forEach((use) => use(entry));
    });
  }
  const joined = waitFor(async () => (session.memberships.some((m) => m.userId === own.userId && m.deviceId === own.deviceId) ? true : undefined), `${own.userId}'s membership`, 20_000, 50);
  session.joinRTCSession(own, [transport], transport, {
    delayedLeaveEventDelayMs: opts.delayedLeaveMs ?? 10_000,
    manageMediaKeys: opts.e2ee === 'keys',
    unstableSendStickyEvents: sticky,
  });
  await joined;

  // Asked again after an SFU restart, as a client does: the authorizer creates the room on the new server.
  const fetchLivekit = async () => {
    const openId = await client.getOpenIdToken();
    const [path, body] = sticky
      ? ['get_token', { room_id: opts.roomId, slot_id: 'm.call#ROOM', openid_token: openId, member: { id: memberId, claimed_user_id: own.userId, claimed_device_id: own.deviceId } }]
      : ['sfu/get', { room: opts.roomId, openid_token: openId, device_id: opts.user.deviceId }];
    const response = await fetch(`${sfu.authorizerUrl}/${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`peer /${path} -> ${response.status} ${await response.text()}`);
    return (await response.json()) as { url: string; jwt: string };
  };
  const { url, jwt } = await fetchLivekit();
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sub: string; video: { room: string } };
  if (claims.sub !== ownIdentity) throw new Error(`the authorizer gave the peer identity ${claims.sub}, but js-sdk keys our media under ${ownIdentity}`);

  return {
    client,
    session,
    sfu,
    identity: claims.sub,
    membership: sticky ? 'sticky' : 'legacy',
    memberId,
    livekitRoom: claims.video.room,
    livekit: { url, jwt },
    fetchLivekit,
    onOwnKey(use) {
      ownListeners.push(use);
      const current = keys.at(-1);
      if (current) use(current);
    },
    onMemberKey(use) {
      memberListeners.push(use);
      for (const [identity, entry] of memberKeys) use(identity, entry);
    },
    ownKeys: () => keys.map((k) => k.key),
    async leave() {
      await Promise.race([session.leaveRoomSession(5_000), sleep(6_000)]);
      client.stopClient();
    },
    abandon() {
      client.stopClient();
    },
  };
}

/** Waits until `session` shows a membership of `userId` (or its absence, with present=false). */
export function waitForMembership(session: MatrixRTCSession, userId: string, present = true, timeoutMs = 30_000) {
  return waitFor(async () => (session.memberships.some((m) => m.userId === userId) === present ? true : undefined), `${userId} ${present ? 'in' : 'out of'} the call`, timeoutMs, 100);
}
