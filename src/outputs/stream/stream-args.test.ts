import { describe, expect, it } from 'vitest';
import { parseDestination } from './destination.ts';
import { classifyFailure } from './failure.ts';
import { FlvReader } from './flv.ts';
import { encoderArgs, relayArgs } from './stream-args.ts';

const audio = { sampleRate: 48_000, channels: 1 };
const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('encoderArgs', () => {
  it('encodes an audio-only stream to AAC alone (no video encoder at all)', () => {
    const args = encoderArgs({ audio, audioBitrateKbps: 128 });
    expect(args).not.toContain('libx264');
    expect(args.join(' ')).toContain('-f s16le -ar 48000 -ac 1 -i pipe:0');
    expect(args.join(' ')).toContain('-c:a aac -b:a 128k -ac 2 -f flv');
    expect(args.at(-1)).toBe('pipe:1');
  });

  it('encodes video with H.264 for live: zerolatency, a keyframe every 2 s, capped bitrate', () => {
    const args = encoderArgs({ audio, audioBitrateKbps: 128, video: { width: 1280, height: 720, fps: 30, bitrateKbps: 2500 } });
    expect(args.join(' ')).toContain('-s 1280x720 -framerate 30 -i pipe:0');
    expect(args.join(' ')).toContain('-i pipe:3');
    expect(after(args, '-tune')).toBe('zerolatency');
    expect(after(args, '-g')).toBe('60');
    expect(after(args, '-keyint_min')).toBe('60');
    expect(after(args, '-sc_threshold')).toBe('0');
    expect(after(args, '-maxrate')).toBe('2500k');
  });
});

describe('relayArgs', () => {
  it('copies (never re-encodes) to each kind of destination', () => {
    const rtmp = relayArgs(parseDestination('rtmp://h.example/live/key_0123456789'));
    const srt = relayArgs(parseDestination('srt://h.example:9000?latency=200'));
    const hls = relayArgs(parseDestination('hls:/srv/hls/x', { trusted: true, hls: { segmentSeconds: 2, listSize: 5 } }));
    for (const args of [rtmp, srt, hls]) {
      expect(after(args, '-c')).toBe('copy');
      expect(after(args, '-progress')).toBe('pipe:1');
      expect(after(args, '-probesize')).toBe('32');
    }
    expect(rtmp.slice(-5, -1)).toEqual(['-f', 'flv', '-flvflags', 'no_duration_filesize']);
    expect(rtmp.at(-1)).toBe('rtmp://h.example/live/key_0123456789');
    expect(after(srt, '-f')).toBe('flv'); // the input
    expect(srt).toContain('mpegts');
    expect(srt.at(-1)).toBe('srt://h.example:9000?mode=caller&transtype=live&pkt_size=1316&latency=200000');
    expect(after(hls, '-hls_time')).toBe('2');
    expect(after(hls, '-hls_list_size')).toBe('5');
    expect(hls.at(-1)).toBe('/srv/hls/x/index.m3u8');
  });
});

describe('FlvReader', () => {
  const header = [0x46, 0x4c, 0x56, 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0];
  const tagBytes = (type: number, ts: number, data: number[]) => {
    const size = data.length;
    const total = 11 + size;
    return [type, size >> 16, (size >> 8) & 0xff, size & 0xff, (ts >> 16) & 0xff, (ts >> 8) & 0xff, ts & 0xff, ts >>> 24, 0, 0, 0, ...data, total >>> 24, (total >> 16) & 0xff, (total >> 8) & 0xff, total & 0xff];
  };

  it('splits tags across chunk boundaries and marks configuration and keyframes', () => {
    const bytes = new Uint8Array([
      ...header,
      ...tagBytes(9, 0, [0x17, 0, 0, 0, 0, 1]), // AVC sequence header
      ...tagBytes(8, 0, [0xaf, 0, 0x11, 0x90]), // AAC sequence header
      ...tagBytes(9, 40, [0x17, 1, 0, 0, 0, 9]), // keyframe
      ...tagBytes(9, 73, [0x27, 1, 0, 0, 0, 9]), // inter frame
      ...tagBytes(8, 0x1000000 + 5, [0xaf, 1, 7]), // AAC frame with an extended timestamp
    ]);
    const reader = new FlvReader();
    const tags = [...reader.push(bytes.slice(0, 20)), ...reader.push(bytes.slice(20, 57)), ...reader.push(bytes.slice(57))];
    expect(reader.header).toEqual(new Uint8Array(header));
    expect(tags.map((t) => [t.type, t.timestamp, t.config, t.keyframe])).toEqual([
      [9, 0, true, false],
      [8, 0, true, false],
      [9, 40, false, true],
      [9, 73, false, false],
      [8, 0x1000005, false, false], // audio in a stream with video: not a place to start
    ]);
    expect(tags.reduce((n, t) => n + t.bytes.length, 0)).toBe(bytes.length - header.length);
  });

  it('refuses output that is not FLV', () => {
    expect(() => new FlvReader().push(new Uint8Array(20))).toThrow('the encoder output is not FLV');
  });
});

describe('classifyFailure', () => {
  const base = { printable: 'rtmp://h.example/live/••••', wasConnected: false, timeoutMs: 10_000 };
  it('tells a refused key, an unknown host and a refused connection apart', () => {
    expect(classifyFailure({ ...base, destinationKind: 'rtmp', stderr: ['rtmp://h.example/live/••••: Input/output error'] }).kind).toBe('refused');
    expect(
      classifyFailure({ ...base, destinationKind: 'rtmp', stderr: ['[tcp] Failed to resolve hostname h.example: Name or service not known', 'rtmp://h.example/live/••••: Input/output error'] }),
    ).toEqual({ kind: 'unknown-host', sentence: 'rtmp://h.example/live/•••• cannot be reached: its host name does not resolve.' });
    expect(classifyFailure({ ...base, destinationKind: 'rtmp', stderr: ['rtmp://h.example/live/••••: Connection refused'] }).kind).toBe('unreachable');
    expect(classifyFailure({ ...base, destinationKind: 'srt', stderr: ['SRT.cn: REJECT reported from HS processing: Incorrect passphrase'] }).sentence).toBe(
      'rtmp://h.example/live/•••• refused the stream: wrong passphrase.',
    );
    expect(classifyFailure({ ...base, destinationKind: 'srt', stderr: ['srt://h:1: Input/output error'] }).kind).toBe('unreachable');
    expect(classifyFailure({ ...base, wasConnected: true, destinationKind: 'rtmp', stderr: ['av_interleaved_write_frame(): Broken pipe'] })).toEqual({
      kind: 'error',
      sentence: 'rtmp://h.example/live/•••• failed: av_interleaved_write_frame(): Broken pipe.',
    });
  });
});
