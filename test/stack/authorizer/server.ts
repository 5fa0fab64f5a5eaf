// A stand-in for element-hq/lk-jwt-service (which cannot be installed from a registry): the same
// endpoints, request decoding, errors, identities, room names, grants and room creation (protocol
// notes §6). OpenID tokens are verified against the homeserver for real.
//
// Behaviour (`behaviour` option; env MRR_AUTHORIZER_BEHAVIOUR=v0.5.0|main, default v0.5.0):
//
// 'v0.5.0' — the released v0.5.0, what deployments run:
//   - video grant {room, roomJoin, canPublish, canSubscribe}: no canUpdateOwnMetadata, so a
//     participant cannot set its own name or metadata.
//   - /sfu/get decodes the body as the legacy {room, openid_token, device_id}; failing that, as the
//     /get_token body, which it then serves exactly like /get_token (hashed identity, that slot's
//     room). Neither decodes: 400 M_BAD_JSON "The request body was malformed, …".
//   - OpenID lookup failure: 500 M_LOOKUP_FAILED "Failed to look up user info from homeserver" for a
//     legacy body, 401 M_UNAUTHORIZED for a /get_token body (on either endpoint).
//   - delay_id / delay_timeout / delay_cs_api_url: part of the /get_token body and ignored; unknown
//     in the legacy body.
// 'main' — main after v0.5.0 (unreleased), only where tests ask for it:
//   - the grant also has canUpdateOwnMetadata.
//   - /sfu/get decodes the legacy body only, which gains the three delay fields; a body that does
//     not decode: 400 M_NOT_JSON "Error reading request".
//   - OpenID lookup failure: 401 M_UNAUTHORIZED on both endpoints.
//   - delay fields checked on both endpoints: only one of delay_id / delay_timeout (> 0) given →
//     400 M_BAD_JSON; delegation asked by a restricted user → 400 M_BAD_JSON.
// Not implemented in either: delegation of delayed leave events itself (a full-access request with
// delay fields under 'main' gets a clear 400), /delegate_delayed_leave and /sfu_webhook (main: 404
// here), federation discovery (homeservers are reached at the URLs given), Go's path cleaning.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { decodeGoStruct, GoDecodeError, type GoStruct } from './go-json.ts';
import { escapeLikeGo, hashedIdentity, LEGACY_SLOT_ID, legacyIdentity, liveKitRoomAlias } from './identity.ts';

export const AUTHORIZER_BEHAVIOURS = ['v0.5.0', 'main'] as const;
export type AuthorizerBehaviour = (typeof AUTHORIZER_BEHAVIOURS)[number];

export interface AuthorizerOptions {
  /** WebSocket URL handed to clients (LIVEKIT_URL). */
  livekitUrl: string;
  apiKey: string;
  apiSecret: string;
  /** LIVEKIT_FULL_ACCESS_HOMESERVERS as parsed: server names whose users may create rooms; ['*'] for all. */
  fullAccessHomeservers: string[];
  /** Where to reach each server name's OpenID userinfo endpoint (the real service uses federation discovery). */
  homeserverUrls: Record<string, string>;
  /** Which lk-jwt-service to behave like (see the top of this file). Default 'v0.5.0'. */
  behaviour?: AuthorizerBehaviour;
  log?: (line: string) => void;
}

/** LIVEKIT_FULL_ACCESS_HOMESERVERS as the service splits it: on commas and whitespace. */
export const parseFullAccessHomeservers = (value: string) => value.replaceAll(',', ' ').split(/\s+/).filter(Boolean);

class HttpError extends Error {
  readonly status: number;
  readonly errcode: string;
  constructor(status: number, errcode: string, message: string) {
    super(message);
    this.status = status;
    this.errcode = errcode;
  }
}

const JSON_AND_CORS = {
  'Content-Type': 'application/json',
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'POST',
  'Access-Control-Allow-Headers': 'Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token',
};

const notJson = () => new HttpError(400, 'M_NOT_JSON', 'Error reading request');
const badJson = (message: string) => new HttpError(400, 'M_BAD_JSON', message);
const unauthorised = () => new HttpError(401, 'M_UNAUTHORIZED', 'The request could not be authorised.');
const lookupFailed = () => new HttpError(500, 'M_LOOKUP_FAILED', 'Failed to look up user info from homeserver');
const MALFORMED =
  'The request body was malformed, missing required fields, or contained invalid values (e.g. missing `room_id`, `slot_id`, or `openid_token`).';

const OPENID: GoStruct = { access_token: 'string', token_type: 'string', matrix_server_name: 'string', expires_in: 'int' };
const DELAY: GoStruct = { delay_id: 'string', delay_timeout: 'int', delay_cs_api_url: 'string' };
const LEGACY_V0_5_0: GoStruct = { room: 'string', openid_token: OPENID, device_id: 'string' };
const LEGACY_MAIN: GoStruct = { ...LEGACY_V0_5_0, ...DELAY };
const SLOT: GoStruct = {
  room_id: 'string',
  slot_id: 'string',
  openid_token: OPENID,
  member: { id: 'string', claimed_user_id: 'string', claimed_device_id: 'string' },
  ...DELAY,
};

interface OpenId {
  access_token?: string;
  matrix_server_name?: string;
}
interface Delay {
  delay_id?: string;
  delay_timeout?: number;
}
interface LegacyRequest extends Delay {
  room?: string;
  openid_token?: OpenId;
  device_id?: string;
}
interface SlotRequest extends Delay {
  room_id?: string;
  slot_id?: string;
  openid_token?: OpenId;
  member?: { id?: string; claimed_user_id?: string; claimed_device_id?: string };
}

const decode = <T>(body: string, struct: GoStruct) => decodeGoStruct(body, struct) as T;

/** Decodes, or undefined when Go's Decode would return an error. */
function tryDecode<T>(body: string, struct: GoStruct): T | undefined {
  try {
    return decode<T>(body, struct);
  } catch (err) {
    if (err instanceof GoDecodeError) return undefined;
    throw err;
  }
}

export function createAuthorizer(options: AuthorizerOptions): Server {
  const log = options.log ?? ((line: string) => console.log(line));
  const main = (options.behaviour ?? 'v0.5.0') === 'main';
  const rooms = new RoomServiceClient(options.livekitUrl.replace(/^ws/, 'http'), options.apiKey, options.apiSecret);
  const full = options.fullAccessHomeservers;
  const isFullAccess = (serverName: string) => (full.length === 1 && full[0] === '*') || full.includes(serverName);

  /** gomatrixserverlib's LookupUserInfo: the `sub` the homeserver vouches for, or an Error saying why not. */
  async function lookupUserInfo(token: OpenId): Promise<string> {
    const serverName = token.matrix_server_name!;
    const base = options.homeserverUrls[serverName];
    if (!base) throw new Error(`no route to homeserver ${serverName}`);
    const url = `${base}/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(token.access_token!)}`;
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status} : ${text}`);
    const sub = (JSON.parse(text) as { sub?: unknown }).sub ?? '';
    if (typeof sub !== 'string') throw new Error('sub is not a string');
    const colon = sub.indexOf(':');
    if (colon < 0 || sub.slice(colon + 1) !== serverName) throw new Error(`userID doesn't match server name '${sub}' != '${serverName}'`);
    return sub;
  }

  async function verifiedUser(token: OpenId, onFailure: () => HttpError): Promise<string> {
    try {
      return await lookupUserInfo(token);
    } catch (err) {
      log(`openid: lookup at ${token.matrix_server_name} failed: ${(err as Error).message}`);
      throw onFailure();
    }
  }

  /** Main only: the delay fields come together, and only full-access users may delegate. */
  function checkDelayFields(body: Delay) {
    if (!main) return;
    const hasId = (body.delay_id ?? '') !== '';
    const hasTimeout = (body.delay_timeout ?? 0) > 0;
    if (hasId !== hasTimeout) throw badJson('The request body is missing `delay_id` or `delay_timeout`');
  }
  function checkDelegation(body: Delay, fullAccess: boolean) {
    if (!main || !body.delay_id) return;
    if (!fullAccess) throw badJson('Delegation of delayed events is only supported for full access users');
    throw badJson('Delegation of delayed events is not implemented by this test authorizer');
  }

  async function issue(serverName: string, room: string, identity: string) {
    const token = new AccessToken(options.apiKey, options.apiSecret, { identity, ttl: '1h' });
    token.addGrant({ room, roomJoin: true, canPublish: true, canSubscribe: true, ...(main ? { canUpdateOwnMetadata: true } : {}) });
    const jwt = await token.toJwt();
    if (isFullAccess(serverName)) {
      try {
        await rooms.createRoom({ name: room, emptyTimeout: 300, departureTimeout: 20, maxParticipants: 0 });
      } catch (err) {
        log(`createRoom failed: ${(err as Error).message}`);
        throw new HttpError(500, 'M_UNKNOWN', 'Unable to create room on SFU');
      }
    }
    return { url: options.livekitUrl, jwt };
  }

  async function legacyRequest(body: LegacyRequest) {
    const openId = body.openid_token ?? {};
    if (!body.room) throw badJson('Missing room parameter');
    if (!openId.access_token || !openId.matrix_server_name) throw badJson('Missing OpenID token parameters');
    checkDelayFields(body);
    const sub = await verifiedUser(openId, main ? unauthorised : lookupFailed);
    checkDelegation(body, isFullAccess(openId.matrix_server_name));
    return issue(openId.matrix_server_name, liveKitRoomAlias(body.room, LEGACY_SLOT_ID), legacyIdentity(sub, body.device_id ?? ''));
  }

  async function slotRequest(body: SlotRequest) {
    const member = body.member ?? {};
    const openId = body.openid_token ?? {};
    if (!body.room_id || !body.slot_id) throw badJson('The request body is missing `room_id` or `slot_id`');
    if (!member.id || !member.claimed_user_id || !member.claimed_device_id) {
      throw badJson('The request body `member` is missing a `id`, `claimed_user_id` or `claimed_device_id`');
    }
    if (!openId.access_token || !openId.matrix_server_name) {
      throw badJson('The request body `openid_token` is missing a `access_token` or `matrix_server_name`');
    }
    checkDelayFields(body);
    const sub = await verifiedUser(openId, unauthorised);
    if (sub !== member.claimed_user_id) {
      log(`claimed_user_id ${member.claimed_user_id} is not ${sub}`);
      throw unauthorised();
    }
    checkDelegation(body, isFullAccess(openId.matrix_server_name));
    const identity = hashedIdentity(sub, member.claimed_device_id, member.id);
    return issue(openId.matrix_server_name, liveKitRoomAlias(body.room_id, body.slot_id), identity);
  }

  function sfuGet(body: string) {
    if (main) {
      const legacy = tryDecode<LegacyRequest>(body, LEGACY_MAIN);
      if (!legacy) throw notJson();
      return legacyRequest(legacy);
    }
    const legacy = tryDecode<LegacyRequest>(body, LEGACY_V0_5_0);
    if (legacy) return legacyRequest(legacy);
    const slot = tryDecode<SlotRequest>(body, SLOT);
    if (slot) return slotRequest(slot);
    throw badJson(MALFORMED);
  }

  function getToken(body: string) {
    const slot = tryDecode<SlotRequest>(body, SLOT);
    if (!slot) throw notJson();
    return slotRequest(slot);
  }

  const handlers: Record<string, (body: string) => Promise<object>> = { '/sfu/get': sfuGet, '/get_token': getToken };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://authorizer').pathname;
    if (path === '/healthz') {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 200 : 405).end();
      return;
    }
    const handler = handlers[path];
    if (!handler) {
      // Go's ServeMux answer for an unknown path.
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }).end('404 page not found\n');
      return;
    }
    if (req.method === 'OPTIONS' || req.method !== 'POST') {
      res.writeHead(req.method === 'OPTIONS' ? 200 : 405, JSON_AND_CORS).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let status = 200;
    let payload: object;
    try {
      payload = await handler(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      const error = err instanceof HttpError ? err : new HttpError(500, 'M_UNKNOWN', 'Internal Server Error');
      if (!(err instanceof HttpError)) log(`internal error: ${(err as Error).stack}`);
      status = error.status;
      payload = { errcode: error.errcode, error: error.message };
    }
    log(`${req.method} ${path} -> ${status}`);
    // Go's json.Encoder: its escapes and a trailing newline.
    res.writeHead(status, JSON_AND_CORS).end(`${escapeLikeGo(JSON.stringify(payload))}\n`);
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`request failed: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
}
