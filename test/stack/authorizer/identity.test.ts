import { describe, expect, it } from 'vitest';
import { goJsonStringArray, hashedIdentity, legacyIdentity, liveKitRoomAlias } from './identity.ts';

// Expected values were computed independently with Go's encoding/json + crypto/sha256 (the real
// service's own code path) and, for the MSC4195 vectors, taken from the MSC's table.
describe('lk-jwt-service formulas', () => {
  it('room alias: sha256 of the Go-JSON array, unpadded standard base64', () => {
    expect(liveKitRoomAlias('!abc:example.org', 'm.call#ROOM')).toBe('9YzbCxM8P0fwObUtiQ9m/ujMP9ruNMxS7SOsugBEaxA');
    expect(liveKitRoomAlias('!roomid:example.com', 'slot1234')).toBe('O8437W3+jmzMVjoIP3tNwbm+XxHQk2iKpOA7aqw3qSc');
  });

  it('v2 identity: [user, device, member]', () => {
    expect(hashedIdentity('@alice:example.org', 'ALICEDEVICE', '3f2a8c1e-0000-4000-8000-000000000001')).toBe(
      '4cgr2sOl8Il77cl0HVdjBYdxfC/e+LkJ/k+qhK4++/w',
    );
  });

  it('escapes like Go: <, >, &, U+2028, U+2029, \\b, \\f and control characters', () => {
    expect(goJsonStringArray(['!a<b>&c:example.org', 'm.call#ROOM'])).toBe('["!a\\u003cb\\u003e\\u0026c:example.org","m.call#ROOM"]');
    expect(liveKitRoomAlias('!a<b>&c:example.org', 'm.call#ROOM')).toBe('rJYuQB3QVCYKx6v9y+wMbaeTQAWT/4UxbF1jpprhay4');
    expect(hashedIdentity('@u\u2028x:example.org', 'DEV\u2029', 'm"e\\m\b\f\x01')).toBe('XOFHIugabWGkvZz9KHnDMa2r1aTmgMz5GRCMRiR8qlc');
  });

  it('replaces lone surrogates with U+FFFD as Go does for invalid UTF-8', () => {
    expect(goJsonStringArray(['a\ud800b'])).toBe('["a\ufffdb"]');
  });

  it('legacy identity is user:device verbatim', () => {
    expect(legacyIdentity('@alice:example.org', 'ALICEDEVICE')).toBe('@alice:example.org:ALICEDEVICE');
    expect(legacyIdentity('@alice:example.org', '')).toBe('@alice:example.org:');
  });
});
