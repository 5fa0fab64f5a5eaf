import { AppService } from 'matrix-appservice-bridge';
import { afterEach, describe, expect, it } from 'vitest';
import { checkHsTokenInConstantTime, sameSecret } from './hs-token.ts';

describe('sameSecret', () => {
  it('is true only for the same token', () => {
    expect(sameSecret('secret', 'secret')).toBe(true);
    expect(sameSecret('secreT', 'secret')).toBe(false);
    expect(sameSecret('secret-and-more', 'secret')).toBe(false);
    expect(sameSecret('', '')).toBe(false);
    expect(sameSecret(undefined, '')).toBe(false);
  });
});

describe('the appservice token check', () => {
  let appService: AppService | undefined;
  afterEach(async () => appService?.close());

  it('checks hs_token on transactions through the constant-time comparison', async () => {
    appService = new AppService({ homeserverToken: 'hs-secret' });
    const compared: Array<string | undefined> = [];
    checkHsTokenInConstantTime(appService, 'hs-secret', (presented, expected) => {
      compared.push(presented);
      return sameSecret(presented, expected);
    });
    await appService.listen(0, '127.0.0.1', 10);
    const { port } = (appService as unknown as { server: { address(): { port: number } } }).server.address();
    const put = (headers: Record<string, string>, query = '') =>
      fetch(`http://127.0.0.1:${port}/_matrix/app/v1/transactions/${Math.random()}${query}`, { method: 'PUT', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ events: [] }) });
    expect((await put({ Authorization: 'Bearer hs-secret' })).status).toBe(200);
    expect((await put({ Authorization: 'Bearer hs-secreX' })).status).toBe(403);
    expect((await put({})).status).toBe(403);
    expect((await put({}, '?access_token=hs-secret')).status).toBe(200);
    expect(compared).toEqual(['hs-secret', 'hs-secreX', undefined, 'hs-secret']);
  });
});
