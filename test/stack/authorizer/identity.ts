// LiveKit room names and participant identities exactly as lk-jwt-service computes them
// (helper.go: LiveKitRoomAliasFor, LiveKitIdentityFor; protocol notes §6.5).
import { createHash } from 'node:crypto';

const GO_ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/**
 * Go's `json.Marshal` of a `[]string`: like JSON.stringify, except that it escapes `<`, `>`, `&`,
 * U+2028 and U+2029, and replaces invalid UTF-16 (lone surrogates) with U+FFFD. Hashing any
 * other serialisation would give names that differ from the real service for such inputs.
 */
export function goJsonStringArray(values: readonly string[]): string {
  return escapeLikeGo(JSON.stringify(values.map((v) => v.toWellFormed())));
}

/** The escapes Go's JSON encoder adds to JSON text that JSON.stringify leaves out. */
export const escapeLikeGo = (json: string) => json.replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]!);

const unpaddedSha256Base64 = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64').replace(/=+$/, '');

/** The LiveKit room for a Matrix room and call slot (both endpoints, since v0.4.3). */
export const liveKitRoomAlias = (roomId: string, slotId: string) => unpaddedSha256Base64(goJsonStringArray([roomId, slotId]));

/** `/get_token` identity: hash of [verified user id, claimed device id, member id]. */
export const hashedIdentity = (userId: string, deviceId: string, memberId: string) =>
  unpaddedSha256Base64(goJsonStringArray([userId, deviceId, memberId]));

/** `/sfu/get` identity: the verified user id and the device id as given (empty gives a trailing colon). */
export const legacyIdentity = (userId: string, deviceId: string) => `${userId}:${deviceId}`;

/** The slot the legacy endpoint hard-codes. */
export const LEGACY_SLOT_ID = 'm.call#ROOM';
