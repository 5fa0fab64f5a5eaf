// The stack's lk-jwt-service stand-in against the real Synapse and LiveKit: OpenID tokens are
// verified for real, identities and room names follow the real service, and by default it answers
// like the released v0.5.0 (statuses, errcodes, texts, grants). The unreleased main-branch
// behaviour is checked on a second authorizer started here with MRR_AUTHORIZER_BEHAVIOUR=main.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, TestClient, type TestUser } from '../helpers/matrix.ts';
import { hashedIdentity, liveKitRoomAlias } from '../stack/authorizer/identity.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const sfu = stack.sfus[0]!;
const rooms = new RoomServiceClient(sfu.livekitUrl.replace(/^ws/, 'http'), sfu.apiKey, sfu.apiSecret);
const authorizerMain = fileURLToPath(new URL('../stack/authorizer/main.ts', import.meta.url));
let user: TestUser;
let openId: Record<string, unknown>;
const started: ChildProcess[] = [];

const MALFORMED = {
  errcode: 'M_BAD_JSON',
  error: 'The request body was malformed, missing required fields, or contained invalid values (e.g. missing `room_id`, `slot_id`, or `openid_token`).',
};
const NOT_JSON = { errcode: 'M_NOT_JSON', error: 'Error reading request' };
const UNAUTHORISED = { errcode: 'M_UNAUTHORIZED', error: 'The request could not be authorised.' };
const JSON_AND_CORS = {
  'content-type': 'application/json',
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST',
  'access-control-allow-headers': 'Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token',
};

const postTo = async (base: string, path: string, body: unknown) => {
  const response = await fetch(`${base}/${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as Record<string, string> };
};
const post = (path: string, body: unknown) => postTo(sfu.authorizerUrl, path, body);
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sub: string; video: object; exp: number; nbf: number };
const slotBody = (roomId: string, slotId: string, memberId: string, extra: object = {}) => ({
  room_id: roomId,
  slot_id: slotId,
  openid_token: openId,
  member: { id: memberId, claimed_user_id: user.userId, claimed_device_id: user.deviceId },
  ...extra,
});
const forged = () => ({ ...openId, access_token: 'not-a-token' });
const livekitRoomExists = async (name: string) => (await rooms.listRooms([name])).length > 0;

/** Another authorizer for the same LiveKit and Synapse, on a free loopback port; resolves to its base URL. */
function startAuthorizer(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [authorizerMain], {
    env: {
      ...process.env,
      LIVEKIT_URL: sfu.livekitUrl,
      LIVEKIT_KEY: sfu.apiKey,
      LIVEKIT_SECRET: sfu.apiSecret,
      LIVEKIT_JWT_BIND: '127.0.0.1:0',
      LIVEKIT_FULL_ACCESS_HOMESERVERS: '*',
      MRR_AUTHORIZER_HOMESERVERS: `${stack.synapse.serverName}=${stack.synapse.url}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += data.toString();
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(output)?.[1];
      if (port) resolve(`http://127.0.0.1:${port}`);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('close', (code) => reject(new Error(`authorizer exited with ${code}: ${output}`)));
  });
}

beforeAll(async () => {
  user = await registerUser(stack, 'authz');
  openId = await new TestClient(user).request('POST', `/_matrix/client/v3/user/${encodeURIComponent(user.userId)}/openid/request_token`, {});
});

afterAll(() => {
  for (const child of started) if (child.exitCode === null) child.kill();
});

describe('authorizer as lk-jwt-service v0.5.0 (the default)', () => {
  it('/sfu/get: identity user:device, hashed room with m.call#ROOM, no canUpdateOwnMetadata, 1 h, room created on the SFU', async () => {
    const roomId = `!legacy${Date.now()}:localhost`;
    const { status, json } = await post('sfu/get', { room: roomId, openid_token: openId, device_id: user.deviceId });
    expect(status).toBe(200);
    expect(json.url).toBe(sfu.livekitUrl);
    const c = claims(json.jwt!);
    expect(c.sub).toBe(`${user.userId}:${user.deviceId}`);
    expect(c.video).toEqual({ room: liveKitRoomAlias(roomId, 'm.call#ROOM'), roomJoin: true, canPublish: true, canSubscribe: true });
    expect(c.exp - c.nbf).toBe(3600);
    const [room] = await rooms.listRooms([liveKitRoomAlias(roomId, 'm.call#ROOM')]);
    expect(room).toMatchObject({ emptyTimeout: 300, departureTimeout: 20 });
  });

  it('/get_token: hashed identity of [user, device, member]; delay fields are accepted and ignored', async () => {
    const roomId = `!slot${Date.now()}:localhost`;
    const { status, json } = await post('get_token', slotBody(roomId, 'm.call#ROOM', 'member-1', { delay_id: 'only-an-id' }));
    expect(status).toBe(200);
    expect(claims(json.jwt!).sub).toBe(hashedIdentity(user.userId, user.deviceId, 'member-1'));
    expect(claims(json.jwt!).video).toEqual({ room: liveKitRoomAlias(roomId, 'm.call#ROOM'), roomJoin: true, canPublish: true, canSubscribe: true });
  });

  it('/sfu/get also serves a /get_token body, with its identity and slot room', async () => {
    const roomId = `!either${Date.now()}:localhost`;
    const { status, json } = await post('sfu/get', slotBody(roomId, 'other-slot', 'member-2'));
    expect(status).toBe(200);
    expect(claims(json.jwt!)).toMatchObject({ sub: hashedIdentity(user.userId, user.deviceId, 'member-2'), video: { room: liveKitRoomAlias(roomId, 'other-slot') } });
    expect(await livekitRoomExists(liveKitRoomAlias(roomId, 'other-slot'))).toBe(true);
  });

  it('rejects with v0.5.0 statuses, errcodes and texts', async () => {
    expect(await post('get_token', { room_id: '!r:localhost', openid_token: openId })).toEqual({
      status: 400,
      json: { errcode: 'M_BAD_JSON', error: 'The request body is missing `room_id` or `slot_id`' },
    });
    expect(await post('get_token', { ...slotBody('!r:localhost', 'm.call#ROOM', 'm'), surprise: 1 })).toEqual({ status: 400, json: NOT_JSON });
    expect(await post('get_token', 'not json')).toEqual({ status: 400, json: NOT_JSON });
    // /sfu/get: neither body shape decodes (unknown field; delay fields are unknown in the legacy shape; not JSON).
    expect(await post('sfu/get', { room: '!r:localhost', openid_token: openId, surprise: 1 })).toEqual({ status: 400, json: MALFORMED });
    expect(await post('sfu/get', { room: '!r:localhost', openid_token: openId, delay_id: 'd', delay_timeout: 1000 })).toEqual({ status: 400, json: MALFORMED });
    expect(await post('sfu/get', 'not json')).toEqual({ status: 400, json: MALFORMED });
    expect(await post('sfu/get', {})).toEqual({ status: 400, json: { errcode: 'M_BAD_JSON', error: 'Missing room parameter' } });
    expect(await post('sfu/get', { room: '!r:localhost' })).toEqual({ status: 400, json: { errcode: 'M_BAD_JSON', error: 'Missing OpenID token parameters' } });
    // A failed OpenID lookup: 500 for the legacy body, 401 for the /get_token body, on either endpoint.
    expect(await post('sfu/get', { room: '!r:localhost', openid_token: forged(), device_id: 'X' })).toEqual({
      status: 500,
      json: { errcode: 'M_LOOKUP_FAILED', error: 'Failed to look up user info from homeserver' },
    });
    expect(await post('sfu/get', { ...slotBody('!r:localhost', 'm.call#ROOM', 'm'), openid_token: forged() })).toEqual({ status: 401, json: UNAUTHORISED });
    expect(await post('get_token', { ...slotBody('!r:localhost', 'm.call#ROOM', 'm'), openid_token: forged() })).toEqual({ status: 401, json: UNAUTHORISED });
    const otherUser = { id: 'm', claimed_user_id: '@someone-else:localhost', claimed_device_id: 'D' };
    expect(await post('get_token', { ...slotBody('!r:localhost', 'm.call#ROOM', 'm'), member: otherUser })).toEqual({ status: 401, json: UNAUTHORISED });
  });

  it('HTTP like the Go service: Go JSON with a newline, CORS on every method, 405, 404, health', async () => {
    const raw = await fetch(`${sfu.authorizerUrl}/sfu/get`, { method: 'POST', body: '{}' });
    expect(await raw.text()).toBe('{"errcode":"M_BAD_JSON","error":"Missing room parameter"}\n');
    for (const method of ['OPTIONS', 'GET', 'PUT']) {
      const response = await fetch(`${sfu.authorizerUrl}/get_token`, { method });
      expect(response.status, method).toBe(method === 'OPTIONS' ? 200 : 405);
      const headers = Object.fromEntries(Object.keys(JSON_AND_CORS).map((name) => [name, response.headers.get(name)]));
      expect(headers, method).toEqual(JSON_AND_CORS);
      expect(await response.text(), method).toBe('');
    }
    const missing = await fetch(`${sfu.authorizerUrl}/delegate_delayed_leave`, { method: 'POST', body: '{}' });
    expect([missing.status, await missing.text()]).toEqual([404, '404 page not found\n']);
    expect((await fetch(`${sfu.authorizerUrl}/healthz`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${sfu.authorizerUrl}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('LIVEKIT_FULL_ACCESS_HOMESERVERS: "*" grants everyone only as the sole entry; others get a token but no room', async () => {
    const restricted = await startAuthorizer({ LIVEKIT_FULL_ACCESS_HOMESERVERS: '*, other.example' });
    const roomId = `!restricted${Date.now()}:localhost`;
    const { status, json } = await postTo(restricted, 'sfu/get', { room: roomId, openid_token: openId, device_id: user.deviceId });
    expect(status).toBe(200);
    expect(claims(json.jwt!).sub).toBe(`${user.userId}:${user.deviceId}`);
    expect(await livekitRoomExists(liveKitRoomAlias(roomId, 'm.call#ROOM'))).toBe(false);
  });
});

describe('authorizer as lk-jwt-service main (unreleased), only when asked for', () => {
  let mainUrl: string;
  beforeAll(async () => {
    mainUrl = await startAuthorizer({ MRR_AUTHORIZER_BEHAVIOUR: 'main' });
  });

  it('grants canUpdateOwnMetadata', async () => {
    const roomId = `!main${Date.now()}:localhost`;
    const { status, json } = await postTo(mainUrl, 'sfu/get', { room: roomId, openid_token: openId, device_id: user.deviceId });
    expect(status).toBe(200);
    expect(claims(json.jwt!).video).toEqual({ room: liveKitRoomAlias(roomId, 'm.call#ROOM'), roomJoin: true, canPublish: true, canSubscribe: true, canUpdateOwnMetadata: true });
  });

  it('/sfu/get takes the legacy body only (M_NOT_JSON otherwise), a failed lookup is 401, delay fields are checked', async () => {
    expect(await postTo(mainUrl, 'sfu/get', slotBody('!r:localhost', 'm.call#ROOM', 'm'))).toEqual({ status: 400, json: NOT_JSON });
    expect(await postTo(mainUrl, 'sfu/get', { room: '!r:localhost', openid_token: forged(), device_id: 'X' })).toEqual({ status: 401, json: UNAUTHORISED });
    const halfDelay = { errcode: 'M_BAD_JSON', error: 'The request body is missing `delay_id` or `delay_timeout`' };
    expect(await postTo(mainUrl, 'sfu/get', { room: '!r:localhost', openid_token: openId, delay_id: 'd' })).toEqual({ status: 400, json: halfDelay });
    expect(await postTo(mainUrl, 'get_token', slotBody('!r:localhost', 'm.call#ROOM', 'm', { delay_timeout: 1000 }))).toEqual({ status: 400, json: halfDelay });
  });

  it('refuses an unknown behaviour name at start', async () => {
    await expect(startAuthorizer({ MRR_AUTHORIZER_BEHAVIOUR: 'v0.4' })).rejects.toThrow(/exited with 78.*MRR_AUTHORIZER_BEHAVIOUR must be one of v0\.5\.0, main/s);
  });
});
