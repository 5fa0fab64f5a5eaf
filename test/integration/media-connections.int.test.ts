// Issue 13 item 6, SFU connections against the real authorizer and LiveKit: a connection is
// never opened once the session began to end (even when the authorizer answers afterwards), and
// a connection that LiveKit drops is forgotten and opened again with fresh credentials.
import { dispose } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { MediaConnections } from '../../src/call/media-connections.ts';
import { AuthorizerPolicy } from '../../src/rtc/authorizer-guard.ts';
import type { PlannedConnection } from '../../src/rtc/connection-plan.ts';
import type { OpenIdToken } from '../../src/rtc/credentials.ts';
import { registerUser, TestClient, waitFor, type TestUser } from '../helpers/matrix.ts';
import { legacyIdentity, liveKitRoomAlias, LEGACY_SLOT_ID } from '../stack/authorizer/identity.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const sfu = stack.sfus[0]!;
const rooms = new RoomServiceClient(sfu.livekitUrl.replace(/^ws/, 'http'), sfu.apiKey, sfu.apiSecret);
const log = pino({ level: 'silent' });
const opened: MediaConnections[] = [];

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await dispose();
});

async function setUp() {
  const user: TestUser = await registerUser(stack, 'sfu-conn');
  const client = new TestClient(user);
  const roomId = await client.createRoom({});
  const openIdToken = () => client.request<OpenIdToken>('POST', `/_matrix/client/v3/user/${encodeURIComponent(user.userId)}/openid/request_token`, {});
  const plan: PlannedConnection[] = [{ serviceUrl: sfu.authorizerUrl, own: true, identities: [], users: [] }];
  const livekitRoom = liveKitRoomAlias(roomId, LEGACY_SLOT_ID);
  const identity = legacyIdentity(user.userId, user.deviceId);
  const inLiveKit = async () => (await rooms.listParticipants(livekitRoom).catch(() => [])).filter((p) => p.identity === identity).length;
  return { user, roomId, openIdToken, plan, livekitRoom, identity, inLiveKit };
}

function connections(roomId: string, user: TestUser, openIdToken: () => Promise<OpenIdToken>, lost: string[] = []) {
  const media = new MediaConnections({
    roomId,
    own: { userId: user.userId, deviceId: user.deviceId, memberId: 'm' },
    ownMembership: 'legacy',
    openIdToken,
    policy: new AuthorizerPolicy({ advertised: [sfu.authorizerUrl], allowed: [] }),
    log,
    onAudioTrack: () => undefined,
    onConnectionLost: (serviceUrl, reason) => lost.push(`${serviceUrl} ${reason}`),
    onConnectFailed: (planned, err) => lost.push(`failed ${planned.serviceUrl}: ${(err as Error).message}`),
  });
  opened.push(media);
  return media;
}

describe('SFU connections', () => {
  it('opens nothing once shutdown began, even when the credentials arrive after it', async () => {
    const { user, roomId, openIdToken, plan, inLiveKit } = await setUp();
    let media!: MediaConnections;
    // The session ends while the OpenID token (and then the JWT) is on its way.
    media = connections(roomId, user, async () => {
      const closing = media.close();
      const token = await openIdToken();
      await closing;
      return token;
    });
    await media.apply(plan);
    expect(media.serviceUrls).toEqual([]);
    expect(await inLiveKit()).toBe(0);
  });

  it('a connection LiveKit drops is removed and opened again, with one identity at a time', async () => {
    const { user, roomId, openIdToken, plan, livekitRoom, identity, inLiveKit } = await setUp();
    const lost: string[] = [];
    const media = connections(roomId, user, openIdToken, lost);
    await media.apply(plan);
    const first = media.connection(sfu.authorizerUrl);
    expect(first).toBeDefined();
    expect(await inLiveKit()).toBe(1);

    const droppedAt = Date.now();
    await rooms.removeParticipant(livekitRoom, identity);
    await waitFor(async () => (lost.length > 0 ? true : undefined), 'the drop to be reported', 15_000, 50);
    expect(lost[0]).toContain(sfu.authorizerUrl);
    const second = await waitFor(async () => {
      const now = media.connection(sfu.authorizerUrl);
      return now && now !== first && (await inLiveKit()) === 1 ? now : undefined;
    }, 'a new connection in LiveKit', 30_000, 100);
    const backMs = Date.now() - droppedAt;
    expect(second).not.toBe(first);
    expect(media.serviceUrls).toEqual([sfu.authorizerUrl]);
    console.log(`[measure] SFU connection removed by LiveKit: reported as "${lost[0]!.split(' ').slice(1).join(' ')}", connected again after ${backMs} ms`);
    // Measured, not asserted: in some runs rtc-node reports the new Room as CONN_DISCONNECTED while
    // LiveKit has it connected, and its disconnect() then does nothing (see the issue 13 note).
    const state = { isConnected: second.room.isConnected, connectionState: second.room.connectionState };
    await media.close();
    expect(media.serviceUrls).toEqual([]);
    const gone = await waitFor(async () => ((await inLiveKit()) === 0 ? true : undefined), 'our participant to leave LiveKit', 5_000).catch(() => false);
    console.log(`[measure] after close(): the reconnected Room said ${JSON.stringify(state)}; our participant gone from LiveKit within 5 s: ${gone}`);
  });

  it('close() takes our participant out of LiveKit', async () => {
    const { user, roomId, openIdToken, plan, inLiveKit } = await setUp();
    const media = connections(roomId, user, openIdToken);
    await media.apply(plan);
    expect(await inLiveKit()).toBe(1);
    await media.close();
    await waitFor(async () => ((await inLiveKit()) === 0 ? true : undefined), 'our participant to leave LiveKit', 15_000);
  });
});
