// Property-based fuzzing of LiveKit authorizer answers: any status, any body, mostly `{url, jwt}`
// with fields and JWT claims swapped for anything. An answer is either credentials we can use
// (a LiveKit URL, our identity and room from the JWT) or a refusal that says what was wrong.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthorizerError, RecorderError } from '../errors.ts';
import { parseAuthorizerAnswer } from './credentials.ts';

const RUNS = 10_000;
const AUTHORIZER = 'https://authorizer.example.org/sfu/get';
const mostly = <T,>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: fc.anything() });
const b64url = (value: string) => Buffer.from(value).toString('base64url');

const claims = fc.record(
  {
    sub: mostly(fc.constantFrom('@recorder-call:hs:DEV', 'abc123', '')),
    video: mostly(fc.record({ room: mostly(fc.constantFrom('!room:hs', '')), canUpdateOwnMetadata: fc.anything() }, { requiredKeys: ['room'] })),
    exp: fc.anything(),
  },
  { requiredKeys: ['sub', 'video'] },
);
const jwt = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(claims, fc.string()).map(([c, sig]) => `${b64url('{"alg":"HS256"}')}.${b64url(JSON.stringify(c) ?? 'undefined')}.${b64url(sig)}`) },
  fc.string().map((payload) => `x.${payload}.y`),
  fc.string(),
);
const body = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record(
        {
          url: mostly(fc.constantFrom('wss://sfu.example.org', 'ws://127.0.0.1:17880', 'https://sfu.example.org', 'sfu.example.org', '', 'wss://', 'file:///etc/passwd')),
          jwt: mostly(jwt),
          errcode: mostly(fc.constantFrom('M_FORBIDDEN', 'M_UNKNOWN', 'M_LIMIT_EXCEEDED')),
          error: fc.anything(),
        },
        { requiredKeys: ['url', 'jwt'] },
      )
      .map((o) => JSON.stringify(o)),
  },
  fc.json(),
  fc.string(),
  fc.constantFrom('', 'null', '[]', '"text"', '<html>502 Bad Gateway</html>'),
);
const status = fc.oneof({ weight: 3, arbitrary: fc.constant(200) }, fc.constantFrom(201, 204, 301, 400, 401, 403, 404, 429, 500, 502), fc.integer({ min: 0, max: 999 }));

describe('fuzzing authorizer answers', () => {
  it(`an answer is usable credentials or a clear refusal (${RUNS} cases)`, () => {
    const seen = { credentials: 0, authorizerError: 0, unusable: 0 };
    fc.assert(
      fc.property(status, body, (code, text) => {
        try {
          const credentials = parseAuthorizerAnswer(AUTHORIZER, code, text);
          seen.credentials++;
          expect(code >= 200 && code < 300).toBe(true);
          expect(['ws:', 'wss:', 'http:', 'https:']).toContain(new URL(credentials.url).protocol);
          expect(credentials.identity.length).toBeGreaterThan(0);
          expect(credentials.room.length).toBeGreaterThan(0);
          expect(typeof credentials.canUpdateOwnMetadata).toBe('boolean');
        } catch (err) {
          if (err instanceof AuthorizerError) {
            seen.authorizerError++;
            expect(err.httpStatus).toBe(code);
            expect(err.message).toContain(`answered HTTP ${code}`);
            // The room hears the status, never the authorizer's address or what its body said.
            expect(err.userMessage).toMatch(new RegExp(`^The call's LiveKit authorizer refused me a token \\(HTTP ${code}( [A-Za-z][A-Za-z0-9_.]*)?\\)\\.$`));
            return;
          }
          expect(err).toBeInstanceOf(RecorderError);
          seen.unusable++;
          expect(['MRR_AUTHORIZER_JWT', 'MRR_AUTHORIZER_URL']).toContain((err as RecorderError).errcode);
          expect((err as Error).message).toMatch(/JWT|SFU URL/);
        }
      }),
      { numRuns: RUNS },
    );
    console.info(`authorizer answers: ${JSON.stringify(seen)}`);
    expect(seen.credentials).toBeGreaterThan(RUNS / 100);
    expect(seen.unusable).toBeGreaterThan(RUNS / 20);
  }, 60_000);
});
