// The homeserver proves itself to the appservice with hs_token on every request. matrix-appservice
// compares it with `!==`, which stops at the first differing character: the time a refusal takes
// tells a guesser how much of a guess was right. Every check here takes the same time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AppService } from 'matrix-appservice-bridge';

/** Compares a presented token with the expected one in constant time (hashes first: equal lengths, no length oracle); an empty token is never right. */
export function sameSecret(presented: string | undefined, expected: string): boolean {
  const a = createHash('sha256').update(presented ?? '').digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && presented !== undefined && expected.length > 0;
}

interface TokenRequest {
  headers: { authorization?: string };
  query: Record<string, unknown>;
}
interface TokenResponse {
  status(code: number): TokenResponse;
  send(body: unknown): unknown;
}

/**
 * Replaces the library's token check (transactions, user and alias queries) with a constant-time
 * one. Same sources as the library: the Authorization header, else the legacy `access_token` query.
 */
export function checkHsTokenInConstantTime(appService: AppService, hsToken: string, compare: typeof sameSecret = sameSecret): void {
  const target = appService as unknown as { isInvalidToken(req: TokenRequest, res: TokenResponse): boolean };
  target.isInvalidToken = (req, res) => {
    const header = req.headers.authorization;
    const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : typeof req.query.access_token === 'string' ? req.query.access_token : undefined;
    if (compare(presented, hsToken)) return false;
    res.status(403);
    res.send({ errcode: 'M_FORBIDDEN', error: 'Bad token supplied' });
    return true;
  };
}
