import { describe, expect, it } from 'vitest';
import { safeLocation, streamTarget } from './audit.ts';

describe('audit destinations', () => {
  it('names a stream by scheme and host, never by the path or query that hold keys', () => {
    expect(streamTarget({ kind: 'rtmp', url: 'rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl' })).toBe('rtmp://a.rtmp.youtube.com');
    expect(streamTarget({ kind: 'srt', url: 'srt://ingest.example.org:9000?passphrase=a-long-passphrase&streamid=x' })).toBe('srt://ingest.example.org:9000');
    expect(streamTarget({ kind: 'hls', directory: '/var/www/live/room' })).toBe('hls:/var/www/live/room');
  });

  it('keeps storage paths and drops credentials and queries from storage URLs', () => {
    expect(safeLocation('/archive/2026/11/room/x/mixed.ogg')).toBe('/archive/2026/11/room/x/mixed.ogg');
    expect(safeLocation('https://user:secret@s3.example.org/bucket/key.ogg?X-Amz-Signature=abc')).toBe('https://s3.example.org/bucket/key.ogg');
  });
});
