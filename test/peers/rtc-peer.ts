// A simulated Element Call peer in Node: matrix-js-sdk's MatrixRTCSession publishes its call
// membership (legacy state event with a delayed leave, as Element Call's compatibility mode
// does), the authorizer's /sfu/get gives it LiveKit credentials, and @livekit/rtc-node
// publishes a microphone track carrying a known sine tone in real time.
import { AudioFrame, AudioSource, LocalAudioTrack, Room, TrackPublishOptions, TrackSource } from '@livekit/rtc-node';
import { createClient, type MatrixClient, type Room as MatrixRoom } from 'matrix-js-sdk';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { MatrixRTCSessionEvent, type MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { elementCallE2eeOptions, setParticipantKey } from '../../src/media/livekit/participant-keys.ts';
import { pino } from 'pino';
import { routeSdkGlobalLogger, sdkLogger as clientLogger } from '../../src/rtc/sdk-logger.ts';
import { type TestUser, waitFor } from '../helpers/matrix.ts';
import type { SfuInfo, StackInfo } from '../stack/info.ts';
import { TONE_FRAME, TONE_RATE, toneGenerator } from './tone.ts';

// js-sdk logs every sync and membership step; test output keeps only its errors.
const quiet = pino({ level: 'error' });
routeSdkGlobalLogger(sdkLogger, quiet);

export interface RtcPeerOptions {
  stack: StackInfo;
  roomId: string;
  /** A user already joined to the room; a new one must be invited and joined by the caller. */
  user: TestUser;
  toneHz: number;
  sfu?: SfuInfo;
  /** Delay of the peer's delayed leave event (MSC4140). */
  delayedLeaveMs?: number;
  /**
   * E2EE media: 'keys' exchanges media keys through js-sdk as Element Call does (the room must
   * be encrypted); 'withheld' encrypts with a key it never sends to anyone.
   */
  e2ee?: 'keys' | 'withheld';
}

export interface RtcPeer {
  user: TestUser;
  identity: string;
  livekitRoom: string;
  client: MatrixClient;
  session: MatrixRTCSession;
  sfu: SfuInfo;
  /** Stops the tone, leaves LiveKit and the MatrixRTC session (membership removed). */
  stop(): Promise<void>;
  /** Ends the process's part abruptly: no leave event, like a crashed client. */
  abandon(): Promise<void>;
}

async function startClient(user: TestUser, roomId: string, crypto: boolean): Promise<{ client: MatrixClient; room: MatrixRoom }> {
  const client = createClient({ baseUrl: user.homeserverUrl, accessToken: user.accessToken, userId: user.userId, deviceId: user.deviceId, logger: clientLogger(quiet) });
  if (crypto) await client.initRustCrypto({ useIndexedDB: false });
  await client.startClient({ initialSyncLimit: 1 });
  const room = await waitFor(async () => client.getRoom(roomId) ?? undefined, `${user.userId} to see ${roomId}`, 20_000, 100);
  return { client, room };
}

export async function startRtcPeer(opts: RtcPeerOptions): Promise<RtcPeer> {
  const sfu = opts.sfu ?? opts.stack.sfus[0]!;
  const { client, room } = await startClient(opts.user, opts.roomId, opts.e2ee === 'keys');
  const session = client.matrixRTC.getRoomSession(room);
  const transport = { type: 'livekit', livekit_service_url: sfu.authorizerUrl, livekit_alias: opts.roomId };
  const own = { userId: opts.user.userId, deviceId: opts.user.deviceId, memberId: `${opts.user.userId}:${opts.user.deviceId}` };
  const joined = new Promise<void>((resolve) => {
    const check = () => {
      if (session.memberships.some((m) => m.userId === own.userId && m.deviceId === own.deviceId)) {
        session.off(MatrixRTCSessionEvent.MembershipsChanged, check);
        resolve();
      }
    };
    session.on(MatrixRTCSessionEvent.MembershipsChanged, check);
  });
  // Our own media key, once js-sdk has made it (or a key nobody else gets, for 'withheld').
  const ownIdentity = `${own.userId}:${own.deviceId}`;
  let ownKey: { index: number; key: Uint8Array } | undefined = opts.e2ee === 'withheld' ? { index: 0, key: randomBytes(16) } : undefined;
  let lk: Room | undefined;
  if (opts.e2ee === 'keys') {
    session.on(MatrixRTCSessionEvent.EncryptionKeyChanged, (key, index, _member, identity) => {
      if (identity !== ownIdentity) return;
      ownKey = { index, key };
      if (lk) setParticipantKey(lk, ownIdentity, index, key);
    });
  }
  session.joinRTCSession(own, [transport], transport, { delayedLeaveEventDelayMs: opts.delayedLeaveMs ?? 10_000, manageMediaKeys: opts.e2ee === 'keys' });
  await Promise.race([joined, sleep(20_000).then(() => Promise.reject(new Error(`${own.userId}: membership not visible after 20 s`)))]);

  const openId = await client.getOpenIdToken();
  const response = await fetch(`${sfu.authorizerUrl}/sfu/get`, {
    method: 'POST',
    body: JSON.stringify({ room: opts.roomId, openid_token: openId, device_id: opts.user.deviceId }),
  });
  if (!response.ok) throw new Error(`peer /sfu/get -> ${response.status} ${await response.text()}`);
  const { url, jwt } = (await response.json()) as { url: string; jwt: string };
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sub: string; video: { room: string } };

  lk = new Room();
  await lk.connect(url, jwt, { autoSubscribe: false, dynacast: false, ...(opts.e2ee ? { encryption: elementCallE2eeOptions() } : {}) });
  if (ownKey) setParticipantKey(lk, ownIdentity, ownKey.index, ownKey.key);
  const source = new AudioSource(TONE_RATE, 1, 200);
  const track = LocalAudioTrack.createAudioTrack('microphone', source);
  await lk.localParticipant!.publishTrack(track, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));

  // Real-time tone: captureFrame applies backpressure through the small queue.
  let running = true;
  const next = toneGenerator(opts.toneHz);
  const pump = (async () => {
    while (running) await source.captureFrame(new AudioFrame(next(), TONE_RATE, 1, TONE_FRAME));
  })().catch(() => undefined);

  const closeMedia = async () => {
    running = false;
    await pump;
    await lk!.disconnect();
    await source.close();
  };
  return {
    user: opts.user,
    identity: claims.sub,
    livekitRoom: claims.video.room,
    client,
    session,
    sfu,
    async stop() {
      await closeMedia();
      await session.leaveRoomSession(5_000);
      client.stopClient();
    },
    async abandon() {
      await closeMedia();
      client.stopClient();
    },
  };
}

/** Waits until `session` shows a membership of `userId` (or its absence, with present=false). */
export function waitForMembership(session: MatrixRTCSession, userId: string, present = true, timeoutMs = 30_000) {
  return waitFor(async () => (session.memberships.some((m) => m.userId === userId) === present ? true : undefined), `${userId} ${present ? 'in' : 'out of'} the call`, timeoutMs, 100);
}
