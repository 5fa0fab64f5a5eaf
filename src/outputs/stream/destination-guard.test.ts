import { describe, expect, it } from 'vitest';
import type { Resolver } from '../../rtc/authorizer-guard.ts';
import { parseDestination, DestinationError } from './destination.ts';
import { TypedDestinationGuard } from './destination-guard.ts';

const answers: Record<string, string[]> = {
  'a.rtmp.youtube.com': ['142.250.74.110'],
  'ingest.internal': ['10.1.2.3'],
  'rebound.example.org': ['93.184.216.34', '127.0.0.1'],
};
const resolver: Resolver = async (host) => {
  const found = answers[host];
  if (!found) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return found;
};
const refusal = async (guard: TypedDestinationGuard, url: string) => {
  const err = await guard.admit(parseDestination(url)).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DestinationError);
  return (err as DestinationError).message;
};

describe('TypedDestinationGuard', () => {
  it('admits public hosts under *, with RTMP, RTMPS and SRT', async () => {
    const guard = new TypedDestinationGuard(['*'], resolver);
    await guard.admit(parseDestination('rtmp://a.rtmp.youtube.com/live2/KEY'));
    await guard.admit(parseDestination('rtmps://a.rtmp.youtube.com/live2/KEY'));
    await guard.admit(parseDestination('srt://8.8.8.8:9000?passphrase=a-long-passphrase'));
  });

  it('refuses private, loopback, link-local and mixed answers, without naming the addresses or the key', async () => {
    const guard = new TypedDestinationGuard(['*'], resolver);
    for (const url of ['rtmp://ingest.internal/live/SECRETKEY', 'rtmp://127.0.0.1:1935/live/SECRETKEY', 'rtmp://169.254.169.254/a/SECRETKEY', 'srt://[::1]:9000', 'rtmp://rebound.example.org/live/SECRETKEY']) {
      const message = await refusal(guard, url);
      expect(message).toMatch(/private network/);
      expect(message).not.toMatch(/SECRETKEY|10\.1\.2\.3/);
    }
    expect(await refusal(guard, 'rtmp://nowhere.example.org/live/SECRETKEY')).toMatch(/does not resolve/);
  });

  it('admits listed hosts, private or not, at any port or the listed one (RTMP defaults to 1935)', async () => {
    const guard = new TypedDestinationGuard(['ingest.internal', '127.0.0.1:1935'], resolver);
    await guard.admit(parseDestination('rtmp://ingest.internal:1940/live/KEY'));
    await guard.admit(parseDestination('rtmp://127.0.0.1/live/KEY'));
    expect(await refusal(guard, 'rtmp://127.0.0.1:1936/live/KEY')).toMatch(/only on listed hosts/);
    // Without `*`, a public host not listed is refused too.
    expect(await refusal(guard, 'rtmp://a.rtmp.youtube.com/live2/KEY')).toMatch(/only on listed hosts/);
  });

  it('with an empty list, refuses every typed URL but leaves HLS alone', async () => {
    const guard = new TypedDestinationGuard([], resolver);
    expect(await refusal(guard, 'rtmp://a.rtmp.youtube.com/live2/KEY')).toMatch(/named destination/);
    await guard.admit(parseDestination('hls:room1'));
  });
});
