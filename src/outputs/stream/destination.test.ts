import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { secretConfigPaths } from '../../config/schema-keys.ts';
import { ConfigError } from '../../errors.ts';
import { scrubSecrets } from '../../observability/secrets.ts';
import { DestinationError, maskSecrets, parseDestination, resolveDestination, type StreamingDestinationsConfig } from './destination.ts';

const KEY = 'abcd-efgh-ijkl-mnop-qrst';

function problem(input: string, trusted = false): string {
  try {
    parseDestination(input, { trusted });
  } catch (err) {
    expect(err).toBeInstanceOf(DestinationError);
    return (err as Error).message;
  }
  throw new Error(`parsed: ${input}`);
}

describe('parseDestination', () => {
  it('reads an RTMP URL; the printable form hides the key, which the log scrubber knows', () => {
    const d = parseDestination(`rtmp://a.rtmp.youtube.com/live2/${KEY}`);
    expect(d).toMatchObject({ kind: 'rtmp', url: `rtmp://a.rtmp.youtube.com/live2/${KEY}`, printable: 'rtmp://a.rtmp.youtube.com/live2/••••' });
    expect(d.name).toBe(d.printable);
    expect(scrubSecrets(`failed: rtmp://a.rtmp.youtube.com/live2/${KEY}`)).not.toContain(KEY);
    expect(maskSecrets(`rtmp://a.rtmp.youtube.com/live2/${KEY}: Input/output error`, d)).toBe('rtmp://a.rtmp.youtube.com/live2/••••: Input/output error');
  });

  it('keeps ports, deeper applications and rtmps; query strings and credentials are secret too', () => {
    expect(parseDestination('rtmps://live.example.org:443/app/sub/key1234567').printable).toBe('rtmps://live.example.org:443/app/sub/••••');
    const q = parseDestination('rtmp://h.example/app/stream?token=tok_987654321');
    expect(q.printable).toBe('rtmp://h.example/app/••••?••••');
    expect(q.secrets).toContain('tok_987654321');
    const u = parseDestination('rtmp://user:pass_12345678@h.example/app/key');
    expect(u.printable).toBe('rtmp://h.example/app/••••');
    expect(u.secrets).toContain('pass_12345678');
  });

  it('refuses an RTMP URL without a key, without repeating what was typed', () => {
    expect(problem('rtmp://h.example/live2')).toBe('rtmp://h.example: an RTMP destination needs an application and a stream key (rtmp://host/app/key).');
    expect(problem(`rtmp://:99999/live/${KEY}`)).not.toContain(KEY);
    expect(problem('http://h.example/x')).toBe('A stream destination must be rtmp://, rtmps://, srt:// or hls:, not http:.');
    expect(problem('youtube')).toMatch(/^A stream destination must be/);
  });

  it('reads an SRT URL into ffmpeg caller options; passphrase and stream id are secret', () => {
    const d = parseDestination('srt://ingest.example.org:9000?latency=200&passphrase=correct-horse-battery&streamid=#!::r=live/k1,m=publish');
    expect(d.kind).toBe('srt');
    expect(d.printable).toBe('srt://ingest.example.org:9000?latency=200&passphrase=••••&streamid=••••');
    if (d.kind !== 'srt') throw new Error('kind');
    const url = new URL(d.url);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      mode: 'caller',
      transtype: 'live',
      pkt_size: '1316',
      latency: '200000', // ffmpeg's srt latency is in microseconds
      passphrase: 'correct-horse-battery',
      streamid: '#!::r=live/k1,m=publish',
    });
    expect(maskSecrets(`Connection to ${d.url} failed`, d)).not.toMatch(/correct-horse|r=live/);
  });

  it('refuses SRT URLs it cannot honour', () => {
    expect(problem('srt://h.example')).toBe('srt://h.example: an SRT destination needs a port (srt://host:port).');
    expect(problem('srt://h.example:9000?mode=listener')).toMatch(/mode must be caller/);
    expect(problem('srt://h.example:9000?passphrase=short')).toBe('srt://h.example:9000: an SRT passphrase has 10 to 79 characters.');
    expect(problem('srt://h.example:9000?latency=5')).toMatch(/latency is in milliseconds/);
    expect(problem('srt://h.example:9000?foo=1')).toMatch(/unknown option foo/);
  });

  it('reads hls: below the base directory; absolute directories only from the config', () => {
    const d = parseDestination('hls:townhall', { hls: { directory: '/srv/hls', segmentSeconds: 2, listSize: 5 } });
    expect(d).toMatchObject({ kind: 'hls', directory: '/srv/hls/townhall', segmentSeconds: 2, listSize: 5, printable: 'hls:/srv/hls/townhall', secrets: [] });
    expect(problem('hls:/etc/cron.d')).toMatch(/only a folder name/);
    expect(problem('hls:../up')).toMatch(/only a folder name/);
    expect(parseDestination('hls:/var/www/live', { trusted: true })).toMatchObject({ directory: '/var/www/live' });
  });
});

describe('resolveDestination', () => {
  const config: StreamingDestinationsConfig = {
    destinations: { youtube: { url: `rtmp://a.rtmp.youtube.com/live2/${KEY}`, kind: 'video' } },
    hlsDirectory: '/srv/hls',
    hlsSegmentSeconds: 4,
    hlsListSize: 6,
  };

  it('finds a named destination, which is not a typed secret', () => {
    expect(resolveDestination('youtube', config)).toMatchObject({
      destination: { name: 'youtube', printable: 'rtmp://a.rtmp.youtube.com/live2/••••' },
      defaultKind: 'video',
      typedSecret: false,
    });
  });

  it('puts `hls` into the session folder below the HLS directory', () => {
    expect(resolveDestination('hls', config, 'room_2026-11-30').destination).toMatchObject({ directory: '/srv/hls/room_2026-11-30' });
    expect(resolveDestination('hls:main', config, 's1').destination).toMatchObject({ directory: '/srv/hls/s1/main' });
  });

  it('marks a URL typed in the room as a typed secret', () => {
    expect(resolveDestination('rtmp://h.example/app/key_0123456789', config).typedSecret).toBe(true);
    expect(resolveDestination('srt://h.example:9000', config).typedSecret).toBe(false);
  });

  it('names the configured destinations when the name is unknown', () => {
    expect(() => resolveDestination('twitch', config)).toThrow('There is no destination named "twitch"; configured: youtube.');
    expect(() => resolveDestination('toString', config)).toThrow(/no destination named/);
  });
});

describe('streaming config', () => {
  const base = { homeserver: { url: 'https://matrix.example.org', domain: 'example.org' } };

  it('validates named destinations at load, naming the key and never the stream key', () => {
    const config = parseConfig({ ...base, streaming: { destinations: { youtube: { url: `rtmp://a.rtmp.youtube.com/live2/${KEY}`, kind: 'video' } } } });
    expect(config.streaming.destinations.youtube).toEqual({ url: `rtmp://a.rtmp.youtube.com/live2/${KEY}`, kind: 'video' });
    expect(config.streaming).toMatchObject({ hlsDirectory: 'hls', hlsSegmentSeconds: 4, stallTimeoutMs: 10_000, giveUpAfterMs: 600_000 });
    const bad = () => parseConfig({ ...base, streaming: { destinations: { yt: { url: `rtmp://a.rtmp.youtube.com:0/${KEY}` } } } });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/^streaming\.destinations\.yt\.url: /);
    expect(bad).not.toThrow(new RegExp(KEY));
    expect(() => parseConfig({ ...base, streaming: { destinations: { stop: { url: 'hls:/srv/x' } } } })).toThrow(/words of the !stream command/);
  });

  it('marks the destinations secret, so printed configs redact them', () => {
    expect(secretConfigPaths()).toContain('streaming.destinations');
  });
});
