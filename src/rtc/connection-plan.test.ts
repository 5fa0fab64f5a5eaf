import { describe, expect, it } from 'vitest';
import { planConnections } from './connection-plan.ts';

const member = (user: string, url: string | undefined) => ({ userId: `@${user}:hs`, deviceId: 'D', identity: `@${user}:hs:D`, serviceUrl: url });

describe('connection plan', () => {
  it('opens one connection per distinct transport, the own one first', () => {
    const plan = planConnections('http://a/jwt/', [member('x', 'http://a/jwt'), member('y', 'http://b/jwt'), member('z', 'http://b/jwt')]);
    expect(plan).toEqual([
      { serviceUrl: 'http://a/jwt', own: true, identities: ['@x:hs:D'], users: ['@x:hs'] },
      { serviceUrl: 'http://b/jwt', own: false, identities: ['@y:hs:D', '@z:hs:D'], users: ['@y:hs', '@z:hs'] },
    ]);
  });

  it('keeps the own connection even when nobody else publishes there', () => {
    expect(planConnections('http://a', [member('y', 'http://b')]).map((c) => [c.serviceUrl, c.own])).toEqual([
      ['http://a', true],
      ['http://b', false],
    ]);
  });

  it('skips members without a transport', () => {
    expect(planConnections('http://a', [member('y', undefined)])).toEqual([{ serviceUrl: 'http://a', own: true, identities: [], users: [] }]);
  });
});
