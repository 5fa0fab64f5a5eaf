// LiveKit credentials from an lk-jwt-service-compatible authorizer, in exchange for an OpenID
// token of the bot's Matrix user (protocol notes §6). Errors keep the authorizer's status and body.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { AuthorizerError, RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { registerSecret } from '../observability/secrets.ts';
import { assertPublic, publicOnlyLookup, RefusedTargetError, type Admission } from './authorizer-guard.ts';

export interface OpenIdToken {
  access_token: string;
  token_type: string;
  matrix_server_name: string;
  expires_in: number;
}

export interface LiveKitCredentials {
  /** The SFU's WebSocket URL. */
  url: string;
  jwt: string;
  /** From the JWT: the LiveKit room name and our identity in it. */
  room: string;
  identity: string;
  /** From the JWT: whether LiveKit lets us set our own name (lk-jwt-service <= v0.5.0 does not grant it). */
  canUpdateOwnMetadata: boolean;
  /** Which endpoint issued it. */
  endpoint: 'sfu/get' | 'get_token';
}

/** The default call slot of a room (the legacy `call_id: ""` maps to it). */
export const DEFAULT_SLOT_ID = 'm.call#ROOM';

const serviceUrl = (base: string, path: string) => `${base.replace(/\/+$/, '')}/${path}`;

/**
 * POSTs to an authorizer with node:http(s) rather than fetch: a target admitted only as a public
 * host gets a lookup that refuses non-public addresses at connect time, and no redirect is followed.
 */
function postJson(url: string, body: unknown, admission: Admission): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        timeout: 15_000,
        ...(admission === 'public' ? { lookup: publicOnlyLookup() as never } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          // An authorizer answers with a URL and a JWT; anything much larger is not one.
          size += chunk.length;
          if (size > 64 * 1024) req.destroy(new Error('the answer is larger than 64 KiB'));
          else chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end(payload);
  });
}

async function postAuthorizer(url: string, body: unknown, endpoint: LiveKitCredentials['endpoint'], admission: Admission): Promise<LiveKitCredentials> {
  let response: { status: number; text: string };
  // Again here, not only in the policy: an IP literal never reaches the connect-time lookup.
  if (admission === 'public') await assertPublic(new URL(url).hostname);
  try {
    response = await postJson(url, body, admission);
  } catch (err) {
    if (err instanceof RefusedTargetError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new RecorderError(`the LiveKit authorizer at ${url} is unreachable: ${(err as Error).message}`, 'MRR_AUTHORIZER_UNREACHABLE', {
      cause: err,
      // No address in the room: the error text names hosts and ports of the operator's network.
      userMessage: `I could not reach the call's LiveKit authorizer${code ? ` (${code})` : ''}.`,
    });
  }
  const answer = parseAuthorizerAnswer(url, response.status, response.text);
  // The SFU URL comes from the authorizer: one admitted only as a public host must not send us elsewhere.
  if (admission === 'public') await assertPublic(new URL(answer.url).hostname);
  return { ...answer, endpoint };
}

/**
 * Reads an authorizer's answer: `{url, jwt}` with a LiveKit URL and a JWT whose claims name our
 * identity and room. Anything else is an AuthorizerError (refusals, wrong shape) or a
 * RecorderError MRR_AUTHORIZER_JWT / MRR_AUTHORIZER_URL (a 2xx answer that is not usable).
 */
export function parseAuthorizerAnswer(url: string, status: number, text: string): Omit<LiveKitCredentials, 'endpoint'> {
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    json = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  const ok = status >= 200 && status < 300;
  if (!ok || typeof json?.url !== 'string' || typeof json.jwt !== 'string') {
    // The errcode is repeated in the room: only a word such as M_FORBIDDEN, never text the authorizer chose.
    const errcode = typeof json?.errcode === 'string' && /^[A-Za-z][A-Za-z0-9_.]{0,63}$/.test(json.errcode) ? json.errcode : undefined;
    const error = typeof json?.error === 'string' ? json.error : undefined;
    throw new AuthorizerError(url, status, text, errcode, error);
  }
  registerSecret(json.jwt);
  if (!isLivekitUrl(json.url)) {
    throw new RecorderError(`the LiveKit authorizer at ${url} answered an SFU URL that is not a ws(s) or http(s) URL`, 'MRR_AUTHORIZER_URL', {
      userMessage: "The call's LiveKit authorizer answered with an SFU address I cannot connect to.",
    });
  }
  return { url: json.url, jwt: json.jwt, ...decodeJwtClaims(json.jwt) };
}

function isLivekitUrl(value: string): boolean {
  try {
    return ['ws:', 'wss:', 'http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/**
 * Reads `sub`, `video.room` and the `video.canUpdateOwnMetadata` grant from a LiveKit JWT (no
 * verification: the SFU verifies it). LiveKit treats an absent grant as not granted.
 */
export function decodeJwtClaims(jwt: string): { identity: string; room: string; canUpdateOwnMetadata: boolean } {
  const payload = jwt.split('.')[1];
  if (!payload) throw new RecorderError('the authorizer returned a malformed JWT (no payload part)', 'MRR_AUTHORIZER_JWT');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new RecorderError('the authorizer returned a malformed JWT (its payload is not JSON)', 'MRR_AUTHORIZER_JWT');
  }
  const { sub, video } = (claims ?? {}) as { sub?: unknown; video?: { room?: unknown; canUpdateOwnMetadata?: unknown } | null };
  const room = video !== null && typeof video === 'object' ? video.room : undefined;
  if (typeof sub !== 'string' || !sub || typeof room !== 'string' || !room) {
    throw new RecorderError('the authorizer JWT lacks sub or video.room (non-empty strings)', 'MRR_AUTHORIZER_JWT');
  }
  return { identity: sub, room, canUpdateOwnMetadata: video!.canUpdateOwnMetadata === true };
}

/** Legacy endpoint: identity `<user>:<device>`, what peers expect for a legacy membership. */
export function fetchLegacyCredentials(serviceBase: string, roomId: string, openId: OpenIdToken, deviceId: string, admission: Admission) {
  return postAuthorizer(serviceUrl(serviceBase, 'sfu/get'), { room: roomId, openid_token: openId, device_id: deviceId }, 'sfu/get', admission);
}

export interface MemberIds {
  memberId: string;
  userId: string;
  deviceId: string;
}

/** MSC4195 endpoint: identity is the hash of [user, device, member id]. */
export function fetchSlotCredentials(serviceBase: string, roomId: string, openId: OpenIdToken, member: MemberIds, admission: Admission) {
  return postAuthorizer(
    serviceUrl(serviceBase, 'get_token'),
    {
      room_id: roomId,
      slot_id: DEFAULT_SLOT_ID,
      openid_token: openId,
      member: { id: member.memberId, claimed_user_id: member.userId, claimed_device_id: member.deviceId },
    },
    'get_token',
    admission,
  );
}

/**
 * For a connection we only subscribe on, our identity does not matter to peers: like Element
 * Call, try `/get_token` first and fall back to `/sfu/get`, saying so with the refusal's errcode.
 */
export async function fetchSubscribeCredentials(
  serviceBase: string,
  roomId: string,
  openId: () => Promise<OpenIdToken>,
  member: MemberIds,
  admission: Admission,
  log: Logger,
): Promise<LiveKitCredentials> {
  try {
    return await fetchSlotCredentials(serviceBase, roomId, await openId(), member, admission);
  } catch (err) {
    if (!(err instanceof AuthorizerError)) throw err;
    log.warn(
      { serviceBase, httpStatus: err.httpStatus, errcode: err.errcode, error: err.message },
      'authorizer refused /get_token; falling back to the legacy /sfu/get',
    );
    return fetchLegacyCredentials(serviceBase, roomId, await openId(), member.deviceId, admission);
  }
}
