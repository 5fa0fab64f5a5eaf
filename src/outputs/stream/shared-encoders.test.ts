import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { PCM_48K_MONO } from '../../media/ffmpeg/audio-args.ts';
import { compositeFileArgs } from '../../media/ffmpeg/video-args.ts';
import { encoderKey, SharedEncoders, type SharedEncoder } from './shared-encoders.ts';
import { encoderArgs, type EncodeSettings } from './stream-args.ts';

const log = pino({ level: 'silent' });
const video = { width: 1280, height: 720, fps: 30 };
const settings = (bitrateKbps = 2500, v: typeof video | null = video): EncodeSettings => ({ audio: PCM_48K_MONO, audioBitrateKbps: 128, ...(v ? { video: { ...v, bitrateKbps } } : {}) });

class FakeEncoder implements SharedEncoder {
  readonly args: string[];
  started = 0;
  stopped = 0;
  audio = 0;
  #frames = 0;
  constructor(s: EncodeSettings) {
    this.args = encoderArgs(s);
  }
  start() {
    this.started++;
  }
  async stop() {
    this.stopped++;
  }
  writeAudio() {
    this.audio++;
  }
  writeVideo() {
    return this.#frames++;
  }
}

function registry() {
  const audio = new Set<(t: { mixed: Int16Array }) => void>();
  const pictures = new Set<(c: { data: Uint8Array }) => void>();
  const created: FakeEncoder[] = [];
  const encoders = new SharedEncoders<FakeEncoder>({
    sources: {
      audio: { subscribe: (f) => (audio.add(f), () => void audio.delete(f)) },
      video: { subscribe: (f) => (pictures.add(f), () => void pictures.delete(f)) },
    },
    create: (s) => {
      const e = new FakeEncoder(s);
      created.push(e);
      return e;
    },
    log,
  });
  const tick = () => {
    for (const f of audio) f({ mixed: new Int16Array(960) });
    for (const f of pictures) f({ data: new Uint8Array(1) });
  };
  return { encoders, created, audio, pictures, tick };
}

describe('SharedEncoders', () => {
  it('gives a recording and a stream of equal settings one encoder, fed once, stopped with the last lease', async () => {
    const { encoders, audio, pictures, tick } = registry();
    const recording = encoders.lease(settings());
    const stream = encoders.lease(settings());
    expect(stream.encoder).toBe(recording.encoder);
    expect(encoders.leases()).toEqual([2]);
    expect(recording.encoder.started).toBe(1);
    // Fed from the call once, not once per lease.
    expect([audio.size, pictures.size]).toEqual([1, 1]);
    tick();
    expect(recording.encoder.audio).toBe(1);

    // The stream goes; the recording's encode goes on untouched.
    await stream.release();
    await stream.release(); // idempotent
    expect(encoders.leases()).toEqual([1]);
    expect(recording.encoder.stopped).toBe(0);
    // A stream added again joins the same running encode (no restart under the recording).
    const again = encoders.lease(settings());
    expect(again.encoder).toBe(recording.encoder);
    expect(recording.encoder.started).toBe(1);
    await again.release();
    await recording.release();
    expect(recording.encoder.stopped).toBe(1);
    expect(encoders.leases()).toEqual([]);
    expect([audio.size, pictures.size]).toEqual([0, 0]);
  });

  it('encodes separately when the arguments differ (another bitrate, audio only)', async () => {
    const { encoders } = registry();
    const a = encoders.lease(settings(2500));
    const b = encoders.lease(settings(4000));
    const c = encoders.lease(settings(2500, null));
    expect(new Set([a.encoder, b.encoder, c.encoder]).size).toBe(3);
    expect(encoders.leases()).toEqual([1, 1, 1]);
    await Promise.all([a, b, c].map((l) => l.release()));
    expect(encoders.leases()).toEqual([]);
  });

  it('numbers each picture for the takers that asked, and stops telling a released one', async () => {
    const { encoders, tick } = registry();
    const lease = encoders.lease(settings());
    const other = encoders.lease(settings());
    const seen: number[] = [];
    lease.onPicture((n) => seen.push(n));
    other.onPicture(() => {
      throw new Error('a failing taker');
    });
    tick();
    tick();
    await lease.release();
    tick();
    expect(seen).toEqual([0, 1]);
    await other.release();
  });

  it("never matches the recording's own encode (CRF, B-frames) to a stream's by default: different x264 arguments", () => {
    const x264 = (args: string[]) => args.slice(args.indexOf('libx264') - 1, args.indexOf('-pix_fmt', args.indexOf('libx264')));
    const own = x264(compositeFileArgs(video, PCM_48K_MONO, 'x.mkv'));
    const stream = x264(encoderArgs(settings()));
    expect(own).not.toEqual(stream);
    expect(own).toContain('-crf');
    expect(stream).toContain('zerolatency');
    // With recording.shareVideoEncoder the recording asks for the stream's settings: the same key.
    expect(encoderKey({ args: encoderArgs(settings()) })).toBe(encoderKey({ args: encoderArgs(settings()) }));
  });
});
