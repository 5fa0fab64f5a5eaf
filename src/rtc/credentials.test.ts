import { AccessToken } from 'livekit-server-sdk';
import { describe, expect, it } from 'vitest';
import { RecorderError } from '../errors.ts';
import { decodeJwtClaims } from './credentials.ts';

const mint = async (grant: Record<string, unknown>) => {
  const token = new AccessToken('key', 'secret-secret-secret-secret-secret', { identity: '@bot:example.org:DEVICE' });
  token.addGrant({ room: 'lk-room', roomJoin: true, canPublish: true, canSubscribe: true, ...grant });
  return token.toJwt();
};
const unsigned = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('decodeJwtClaims', () => {
  it('reads identity and room, and no canUpdateOwnMetadata from a grant like lk-jwt-service v0.5.0 issues', async () => {
    expect(decodeJwtClaims(await mint({}))).toEqual({ identity: '@bot:example.org:DEVICE', room: 'lk-room', canUpdateOwnMetadata: false });
  });

  it('reads canUpdateOwnMetadata when granted (lk-jwt-service main)', async () => {
    expect(decodeJwtClaims(await mint({ canUpdateOwnMetadata: true })).canUpdateOwnMetadata).toBe(true);
    expect(decodeJwtClaims(await mint({ canUpdateOwnMetadata: false })).canUpdateOwnMetadata).toBe(false);
  });

  it('counts only a JSON true as granted', () => {
    expect(decodeJwtClaims(unsigned({ sub: 'me', video: { room: 'r', canUpdateOwnMetadata: 'true' } })).canUpdateOwnMetadata).toBe(false);
  });

  it('rejects a JWT without sub or video.room, or without a payload', () => {
    expect(() => decodeJwtClaims(unsigned({ video: { room: 'r' } }))).toThrow(RecorderError);
    expect(() => decodeJwtClaims(unsigned({ sub: 'me', video: {} }))).toThrow(/lacks sub or video\.room/);
    expect(() => decodeJwtClaims('just-one-part')).toThrow(/malformed JWT/);
  });
});
