import type { AudioFrame } from '@livekit/rtc-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHUNK_MS, CHUNK_SAMPLES } from '../media/recording/audio-timeline.ts';
import { CallAudio } from './call-audio.ts';

/** A track whose frames the test hands over one by one, as rtc-node's events would. */
function frameFeed() {
  const queued: AudioFrame[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  return {
    /** The track ends (its connection closed). */
    end() {
      ended = true;
      wake?.();
    },
    push(count: number) {
      for (let i = 0; i < count; i++) queued.push({ sampleRate: 48_000, channels: 1, data: new Int16Array(CHUNK_SAMPLES).fill(1_000) } as unknown as AudioFrame);
      wake?.();
    },
    frames: (async function* () {
      while (!ended) {
        while (queued.length > 0) yield queued.shift()!;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    })(),
  };
}

/** Lets the track's pump take what was pushed (its promise chain). */
const drain = async () => {
  for (let i = 0; i < 500; i++) await Promise.resolve();
};

describe('CallAudio', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('catches up after a blocked event loop with the audio that arrived meanwhile, not silence', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'] });
    let now = 0;
    const audio = new CallAudio({ log: pino({ level: 'silent' }), timeline: { prebufferMs: 60, maxBufferMs: 400 }, now: () => now });
    const heard: Array<boolean> = [];
    audio.subscribe((tick) => heard.push(tick.speakers[0]?.chunk !== undefined));
    const feed = frameFeed();
    audio.start();
    audio.addTrack({ key: 'a', label: 'a' }, feed.frames);
    feed.push(3); // the prebuffer
    await drain();
    for (let i = 0; i < 10; i++) {
      feed.push(1);
      await drain();
      now += CHUNK_MS;
      vi.advanceTimersToNextTimer(); // the clock's tick
    }
    // The loop is blocked for 500 ms: when it runs again, the clock's timer comes first and the
    // 25 frames rtc-node queued meanwhile after it, in the same turn of the loop.
    now += 500;
    vi.advanceTimersToNextTimer();
    feed.push(25);
    await drain();
    vi.advanceTimersToNextTimer(); // the deferred catch-up
    // 700 ms less the 60 ms prebuffer: 32 chunks, every one of them audio.
    expect(heard).toEqual(Array.from({ length: 32 }, () => true));
    feed.end();
    await audio.finish();
  });
});
