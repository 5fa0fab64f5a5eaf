import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthorizerPolicy, isNonPublicAddress, publicOnlyLookup, RefusedTargetError, type Resolver } from './authorizer-guard.ts';
import { fetchLegacyCredentials } from './credentials.ts';

const resolver = (answers: Record<string, string[]>): Resolver => async (host) => {
  const found = answers[host];
  if (!found) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return found;
};

describe('isNonPublicAddress', () => {
  it.each([
    '127.0.0.1', '127.5.6.7', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1',
    '::ffff:10.0.0.1', '::ffff:7f00:1', 'ff02::1', '64:ff9b::a00:1', 'not-an-ip',
  ])('%s is not public', (address) => expect(isNonPublicAddress(address)).toBe(true));

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8'])(
    '%s is public',
    (address) => expect(isNonPublicAddress(address)).toBe(false),
  );
});

describe('AuthorizerPolicy', () => {
  const answers = resolver({ 'jwt.example.org': ['203.0.114.7'], 'sneaky.example.org': ['93.184.216.34', '127.0.0.1'], 'inside.example.org': ['10.0.0.5'], 'public.example.org': ['93.184.216.34', '2606:2800:220:1::1'] });

  it('allows the advertised transports at their exact origin only', async () => {
    const policy = new AuthorizerPolicy({ advertised: ['http://127.0.0.1:18080/'], allowed: [], resolve: answers });
    expect(await policy.admit('http://127.0.0.1:18080/sfu/get')).toBe('listed');
    await expect(policy.admit('http://127.0.0.1:18081')).rejects.toMatchObject({ reason: 'not-listed' });
    await expect(policy.admit('http://localhost:18080')).rejects.toBeInstanceOf(RefusedTargetError);
  });

  it('fills in default ports, so https://host and https://host:443 are one origin', async () => {
    const policy = new AuthorizerPolicy({ advertised: ['https://jwt.example.org/livekit/jwt'], allowed: [], resolve: answers });
    expect(await policy.admit('https://JWT.example.org:443/other')).toBe('listed');
    await expect(policy.admit('http://jwt.example.org')).rejects.toMatchObject({ reason: 'not-listed' });
  });

  it('takes listed hosts (any port) and host:port entries as named, private or not', async () => {
    const policy = new AuthorizerPolicy({ advertised: [], allowed: ['inside.example.org', '10.9.9.9:8080'], resolve: answers });
    expect(await policy.admit('http://inside.example.org:1234')).toBe('listed');
    expect(await policy.admit('http://10.9.9.9:8080')).toBe('listed');
    await expect(policy.admit('http://10.9.9.9:8081')).rejects.toMatchObject({ reason: 'not-listed' });
  });

  it('with *, admits other hosts only when every address they resolve to is public', async () => {
    const policy = new AuthorizerPolicy({ advertised: [], allowed: ['*'], resolve: answers });
    expect(await policy.admit('https://public.example.org')).toBe('public');
    await expect(policy.admit('https://inside.example.org')).rejects.toMatchObject({ reason: 'private-address' });
    // One private address among public ones is enough to refuse (the client may pick any).
    await expect(policy.admit('https://sneaky.example.org')).rejects.toMatchObject({ reason: 'private-address' });
    await expect(policy.admit('http://127.0.0.1:9')).rejects.toMatchObject({ reason: 'private-address' });
    await expect(policy.admit('http://[::1]:9')).rejects.toMatchObject({ reason: 'private-address' });
    await expect(policy.admit('http://169.254.169.254/latest/meta-data')).rejects.toMatchObject({ reason: 'private-address' });
    await expect(policy.admit('https://nowhere.example.org')).rejects.toMatchObject({ reason: 'bad-url' });
  });

  it('refuses what is not an http(s) URL, saying so without the address', async () => {
    const policy = new AuthorizerPolicy({ advertised: [], allowed: ['*'], resolve: answers });
    const err = (await policy.admit('file:///etc/passwd').catch((e: unknown) => e)) as RefusedTargetError;
    expect(err.reason).toBe('bad-url');
    await expect(policy.admit('not a url')).rejects.toMatchObject({ reason: 'bad-url' });
    const refused = (await policy.admit('http://inside.example.org').catch((e: unknown) => e)) as RefusedTargetError;
    expect(refused.userMessage).not.toMatch(/inside|10\.0\.0\.5/);
  });
});

describe('publicOnlyLookup', () => {
  it('fails the lookup when a name resolves to a private address at connect time', async () => {
    const lookup = publicOnlyLookup(resolver({ 'rebind.example.org': ['127.0.0.1'], 'ok.example.org': ['93.184.216.34'] }));
    const run = (host: string, all: boolean) =>
      new Promise<unknown>((resolve, reject) => lookup(host, { all }, (err, address) => (err ? reject(err) : resolve(address))));
    await expect(run('rebind.example.org', false)).rejects.toMatchObject({ reason: 'private-address' });
    expect(await run('ok.example.org', false)).toBe('93.184.216.34');
    expect(await run('ok.example.org', true)).toEqual([{ address: '93.184.216.34', family: 4 }]);
  });
});

describe('authorizer requests of a target admitted only as public', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('never reach a loopback server, named by IP or by a name resolving to loopback', async () => {
    let requests = 0;
    server = createServer((_req, res) => {
      requests++;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const token = { access_token: 't', token_type: 'Bearer', matrix_server_name: 'hs', expires_in: 60 };
    await expect(fetchLegacyCredentials(`http://127.0.0.1:${port}`, '!r:hs', token, 'DEV', 'public')).rejects.toMatchObject({ reason: 'private-address' });
    await expect(fetchLegacyCredentials(`http://localhost:${port}`, '!r:hs', token, 'DEV', 'public')).rejects.toMatchObject({ reason: 'private-address' });
    expect(requests).toBe(0);
    // Listed (the homeserver's own, or named by the operator): reached as before.
    await expect(fetchLegacyCredentials(`http://127.0.0.1:${port}`, '!r:hs', token, 'DEV', 'listed')).rejects.toMatchObject({ httpStatus: 200 });
    expect(requests).toBe(1);
  });
});
