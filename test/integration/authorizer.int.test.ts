// The stack's lk-jwt-service stand-in against the real Synapse and LiveKit: OpenID tokens are
// verified for real, identities and room names follow the real service, errors keep its shapes.
import { RoomServiceClient } from 'livekit-server-sdk';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerUser, TestClient, type TestUser } from '../helpers/matrix.ts';
import { hashedIdentity, liveKitRoomAlias } from '../stack/authorizer/identity.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const sfu = stack.sfus[0]!;
let user: TestUser;
let openId: Record<string, unknown>;

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${sfu.authorizerUrl}/${path}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as Record<string, string> };
};
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

beforeAll(async () => {
  user = await registerUser(stack, 'authz');
  openId = await new TestClient(user).request('POST', `/_matrix/client/v3/user/${encodeURIComponent(user.userId)}/openid/request_token`, {});
});

describe('authorizer', () => {
  it('/sfu/get: identity user:device, hashed room with m.call#ROOM, grants, 1 h, room created on the SFU', async () => {
    const roomId = `!legacy${Date.now()}:localhost`;
    const { status, json } = await post('sfu/get', { room: roomId, openid_token: openId, device_id: user.deviceId });
    expect(status).toBe(200);
    expect(json.url).toBe(sfu.livekitUrl);
    const c = claims(json.jwt!);
    expect(c.sub).toBe(`${user.userId}:${user.deviceId}`);
    expect(c.video).toEqual({ room: liveKitRoomAlias(roomId, 'm.call#ROOM'), roomJoin: true, canPublish: true, canSubscribe: true, canUpdateOwnMetadata: true });
    expect((c.exp as number) - (c.nbf as number)).toBe(3600);
    const rooms = await new RoomServiceClient(sfu.livekitUrl.replace(/^ws/, 'http'), sfu.apiKey, sfu.apiSecret).listRooms([liveKitRoomAlias(roomId, 'm.call#ROOM')]);
    expect(rooms[0]).toMatchObject({ emptyTimeout: 300, departureTimeout: 20 });
  });

  it('/get_token: hashed identity of [user, device, member]', async () => {
    const member = { id: 'member-1', claimed_user_id: user.userId, claimed_device_id: user.deviceId };
    const { status, json } = await post('get_token', { room_id: '!r:localhost', slot_id: 'm.call#ROOM', openid_token: openId, member });
    expect(status).toBe(200);
    expect(claims(json.jwt!).sub).toBe(hashedIdentity(user.userId, user.deviceId, 'member-1'));
  });

  it('rejects like the real service', async () => {
    expect(await post('get_token', { room_id: '!r:localhost', openid_token: openId })).toEqual({
      status: 400,
      json: { errcode: 'M_BAD_JSON', error: 'The request body is missing `room_id` or `slot_id`' },
    });
    expect(await post('sfu/get', { room: '!r:localhost', openid_token: openId, surprise: 1 })).toEqual({
      status: 400,
      json: { errcode: 'M_NOT_JSON', error: 'Error reading request' },
    });
    const forged = { ...openId, access_token: 'not-a-token' };
    expect(await post('sfu/get', { room: '!r:localhost', openid_token: forged, device_id: 'X' })).toEqual({
      status: 401,
      json: { errcode: 'M_UNAUTHORIZED', error: 'The request could not be authorised.' },
    });
    const member = { id: 'm', claimed_user_id: '@someone-else:localhost', claimed_device_id: 'D' };
    expect((await post('get_token', { room_id: '!r:localhost', slot_id: 'm.call#ROOM', openid_token: openId, member })).status).toBe(401);
  });
});
