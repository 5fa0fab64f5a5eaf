// A faithful stand-in for element-hq/lk-jwt-service (which cannot be installed from a registry):
// the same endpoints, request validation, errors, identities, room names, grants and room
// creation (protocol notes §6). OpenID tokens are verified against the homeserver for real.
// Not implemented: delegation of delayed leave events (answered with a clear 400).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { hashedIdentity, LEGACY_SLOT_ID, legacyIdentity, liveKitRoomAlias } from './identity.ts';

export interface AuthorizerOptions {
  /** WebSocket URL handed to clients (LIVEKIT_URL). */
  livekitUrl: string;
  apiKey: string;
  apiSecret: string;
  /** LIVEKIT_FULL_ACCESS_HOMESERVERS: server names whose users may create rooms, or ['*']. */
  fullAccessHomeservers: string[];
  /** Where to reach each server name's OpenID userinfo endpoint (the real service uses federation discovery). */
  homeserverUrls: Record<string, string>;
  log?: (line: string) => void;
}

class HttpError extends Error {
  readonly status: number;
  readonly errcode: string;
  constructor(status: number, errcode: string, message: string) {
    super(message);
    this.status = status;
    this.errcode = errcode;
  }
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'POST',
  'Access-Control-Allow-Headers': 'Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token',
};

const notJson = () => new HttpError(400, 'M_NOT_JSON', 'Error reading request');
const badJson = (message: string) => new HttpError(400, 'M_BAD_JSON', message);
const unauthorised = () => new HttpError(401, 'M_UNAUTHORIZED', 'The request could not be authorised.');

type FieldType = 'string' | 'number' | { [field: string]: FieldType };

/** Go's json.Decoder with DisallowUnknownFields: unknown keys or wrong types fail; null leaves the zero value. */
function decodeStrict(value: unknown, shape: { [field: string]: FieldType }): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw notJson();
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    const type = shape[key];
    if (type === undefined) throw notJson();
    if (field === null) continue;
    if (typeof type === 'object') out[key] = decodeStrict(field, type);
    else if (typeof field !== type) throw notJson();
    else out[key] = field;
  }
  return out;
}

const OPENID_SHAPE = { access_token: 'string', token_type: 'string', matrix_server_name: 'string', expires_in: 'number' } as const;
const DELAY_SHAPE = { delay_id: 'string', delay_timeout: 'number', delay_cs_api_url: 'string' } as const;
const LEGACY_SHAPE = { room: 'string', openid_token: OPENID_SHAPE, device_id: 'string', ...DELAY_SHAPE } as const;
const V2_SHAPE = {
  room_id: 'string',
  slot_id: 'string',
  openid_token: OPENID_SHAPE,
  member: { id: 'string', claimed_user_id: 'string', claimed_device_id: 'string' },
  ...DELAY_SHAPE,
} as const;

interface OpenId {
  access_token?: string;
  matrix_server_name?: string;
}

export function createAuthorizer(options: AuthorizerOptions): Server {
  const log = options.log ?? ((line: string) => console.log(line));
  const httpUrl = options.livekitUrl.replace(/^ws/, 'http');
  const rooms = new RoomServiceClient(httpUrl, options.apiKey, options.apiSecret);
  const isFullAccess = (serverName: string) =>
    options.fullAccessHomeservers.includes('*') || options.fullAccessHomeservers.includes(serverName);

  async function verifyOpenId(token: OpenId): Promise<string> {
    const base = options.homeserverUrls[token.matrix_server_name!];
    if (!base) {
      log(`openid: no route to homeserver ${token.matrix_server_name}`);
      throw unauthorised();
    }
    const url = `${base}/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(token.access_token!)}`;
    let sub: unknown;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) {
        log(`openid: ${token.matrix_server_name} answered ${response.status}`);
        throw unauthorised();
      }
      sub = ((await response.json()) as { sub?: unknown }).sub;
    } catch (err) {
      if (err instanceof HttpError) throw err;
      log(`openid: lookup at ${token.matrix_server_name} failed: ${(err as Error).message}`);
      throw unauthorised();
    }
    if (typeof sub !== 'string' || !sub.startsWith('@') || sub.slice(sub.indexOf(':') + 1) !== token.matrix_server_name) {
      log(`openid: userID doesn't match server name (${String(sub)} vs ${token.matrix_server_name})`);
      throw unauthorised();
    }
    return sub;
  }

  function checkDelay(body: Record<string, unknown>) {
    const hasId = typeof body.delay_id === 'string' && body.delay_id !== '';
    const hasTimeout = typeof body.delay_timeout === 'number' && body.delay_timeout !== 0;
    if (hasId !== hasTimeout) throw badJson('The request body is missing `delay_id` or `delay_timeout`');
    if (hasId) throw badJson('Delegation of delayed events is not supported by this test authorizer');
  }

  async function issue(serverName: string, room: string, identity: string) {
    if (isFullAccess(serverName)) {
      try {
        await rooms.createRoom({ name: room, emptyTimeout: 300, departureTimeout: 20, maxParticipants: 0 });
      } catch (err) {
        log(`createRoom failed: ${(err as Error).message}`);
        throw new HttpError(500, 'M_UNKNOWN', 'Unable to create room on SFU');
      }
    }
    const token = new AccessToken(options.apiKey, options.apiSecret, { identity, ttl: '1h' });
    token.addGrant({ room, roomJoin: true, canPublish: true, canSubscribe: true, canUpdateOwnMetadata: true });
    return { url: options.livekitUrl, jwt: await token.toJwt() };
  }

  async function sfuGet(raw: unknown) {
    const body = decodeStrict(raw, LEGACY_SHAPE);
    const openId = (body.openid_token ?? {}) as OpenId;
    if (!body.room) throw badJson('Missing room parameter');
    if (!openId.access_token || !openId.matrix_server_name) throw badJson('Missing OpenID token parameters');
    checkDelay(body);
    const sub = await verifyOpenId(openId);
    const identity = legacyIdentity(sub, (body.device_id as string | undefined) ?? '');
    return issue(openId.matrix_server_name, liveKitRoomAlias(body.room as string, LEGACY_SLOT_ID), identity);
  }

  async function getToken(raw: unknown) {
    const body = decodeStrict(raw, V2_SHAPE);
    const member = (body.member ?? {}) as { id?: string; claimed_user_id?: string; claimed_device_id?: string };
    const openId = (body.openid_token ?? {}) as OpenId;
    if (!body.room_id || !body.slot_id) throw badJson('The request body is missing `room_id` or `slot_id`');
    if (!member.id || !member.claimed_user_id || !member.claimed_device_id) {
      throw badJson('The request body `member` is missing a `id`, `claimed_user_id` or `claimed_device_id`');
    }
    if (!openId.access_token || !openId.matrix_server_name) {
      throw badJson('The request body `openid_token` is missing a `access_token` or `matrix_server_name`');
    }
    checkDelay(body);
    const sub = await verifyOpenId(openId);
    if (sub !== member.claimed_user_id) {
      log(`get_token: claimed_user_id ${member.claimed_user_id} is not ${sub}`);
      throw unauthorised();
    }
    const identity = hashedIdentity(sub, member.claimed_device_id, member.id);
    return issue(openId.matrix_server_name, liveKitRoomAlias(body.room_id as string, body.slot_id as string), identity);
  }

  const handlers: Record<string, (body: unknown) => Promise<object>> = { '/sfu/get': sfuGet, '/get_token': getToken };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://authorizer').pathname;
    if (path === '/healthz') {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 200 : 405).end();
      return;
    }
    const handler = handlers[path];
    if (!handler) {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(200, CORS).end();
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let status = 200;
    let payload: object;
    try {
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        throw notJson();
      }
      payload = await handler(parsed);
    } catch (err) {
      const error = err instanceof HttpError ? err : new HttpError(500, 'M_UNKNOWN', 'Internal Server Error');
      if (!(err instanceof HttpError)) log(`internal error: ${(err as Error).stack}`);
      status = error.status;
      payload = { errcode: error.errcode, error: error.message };
    }
    log(`${req.method} ${path} -> ${status}`);
    res.writeHead(status, { 'Content-Type': 'application/json', ...CORS }).end(JSON.stringify(payload));
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`request failed: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
}
