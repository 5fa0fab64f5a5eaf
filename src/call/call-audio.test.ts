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
    const audio = new CallAudio({ log: pino({ level: 'silent' }), timeline: { prebufferMs: 60, maxBufferMs: 400, maxStallDelayMs: 200 }, now: () => now });
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

  /** A clock over tracks a, b, ..., each primed with its prebuffer; `step` plays 20 ms: the given tracks deliver a frame, then the clock ticks. */
  async function clockWith(labels: string[], maxStallDelayMs = 200) {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'] });
    let now = 0;
    const audio = new CallAudio({ log: pino({ level: 'silent' }), timeline: { prebufferMs: 60, maxBufferMs: 400, maxStallDelayMs }, now: () => now });
    /** Per tick, per track: whether its chunk was audio (not silence). */
    const heard: boolean[][] = [];
    audio.subscribe((tick) => heard.push(tick.speakers.map((s) => s.chunk !== undefined)));
    const feeds = labels.map((label) => {
      const feed = frameFeed();
      audio.addTrack({ key: label, label }, feed.frames);
      return feed;
    });
    audio.start();
    for (const feed of feeds) feed.push(3);
    await drain();
    const step = async (delivering: number[]) => {
      for (const i of delivering) feeds[i]!.push(1);
      await drain();
      now += CHUNK_MS;
      vi.advanceTimersToNextTimer();
    };
    const finish = async () => {
      for (const feed of feeds) feed.end();
      await audio.finish();
    };
    return { audio, heard, feeds, step, finish };
  }

  it('waits for the frames when every track stalls at once, rather than playing silence, and plays that much later', async () => {
    const { heard, feeds, step, finish } = await clockWith(['a', 'b']);
    for (let i = 0; i < 10; i++) await step([0, 1]);
    // Nothing from either track for 160 ms (the frames are held up on their way), then all of them at once.
    for (let i = 0; i < 8; i++) await step([]);
    feeds[0]!.push(8);
    feeds[1]!.push(8);
    for (let i = 0; i < 10; i++) await step([0, 1]);
    const ticksSoFar = heard.length;
    await finish();
    // No chunk of either track was silence.
    expect(heard.every((t) => t[0] && t[1])).toBe(true);
    // 560 ms of steps: a clock that never waits would have played (560 - 60) / 20 = 25 chunks by
    // then; this one waited 2 of them out. At the end it plays out what it held back, so the files are as long as the call.
    expect(ticksSoFar).toBe(23);
    expect(heard.length).toBe(560 / CHUNK_MS);
  });

  it('plays silence for one track that runs dry while another plays on (a gap of its own, not a stall of the delivery)', async () => {
    const { heard, step, finish } = await clockWith(['a', 'b']);
    for (let i = 0; i < 10; i++) await step([0, 1]);
    for (let i = 0; i < 8; i++) await step([1]);
    for (let i = 0; i < 10; i++) await step([0, 1]);
    await finish();
    const aSilent = heard.filter((t) => !t[0]).length;
    expect(heard.every((t) => t[1])).toBe(true);
    expect(aSilent).toBeGreaterThan(0);
  });

  it('waits no longer than maxStallDelayMs in all, then plays silence for what is still missing', async () => {
    const { heard, step, finish } = await clockWith(['a', 'b'], 100);
    for (let i = 0; i < 5; i++) await step([0, 1]);
    for (let i = 0; i < 20; i++) await step([]);
    await finish();
    // 3 + 5 frames of audio, then silence: the clock waited 100 ms (5 chunks) of the 400 ms stall
    // and played the rest as silence; the files are as long as the call (500 ms).
    expect(heard.filter((t) => t[0]).length).toBe(8);
    expect(heard.length).toBe(500 / CHUNK_MS);
    expect(heard.slice(0, 8).every((t) => t[0] && t[1])).toBe(true);
  });

  it('waits when half the playing tracks run dry at once, not when fewer do', async () => {
    const { heard, step, finish } = await clockWith(['a', 'b', 'c', 'd']);
    for (let i = 0; i < 5; i++) await step([0, 1, 2, 3]);
    // c and d held up for 160 ms (a stall of half the tracks), then their frames come.
    for (let i = 0; i < 8; i++) await step([0, 1]);
    const ticksSoFar = heard.length;
    await finish();
    expect(heard.slice(0, ticksSoFar).every((t) => t[0] && t[1])).toBe(true);
    // Without the wait the clock would have played (260 - 60) / 20 = 10 chunks by now.
    expect(ticksSoFar).toBeLessThan(10);
  });

  it('waits when the tracks run dry a chunk apart, with one chunk of silence for the first and none for the other', async () => {
    const { heard, feeds, step, finish } = await clockWith(['a', 'b']);
    for (let i = 0; i < 5; i++) await step([0, 1]);
    feeds[1]!.push(1); // b has one chunk more than a when the stall begins
    for (let i = 0; i < 8; i++) await step([]);
    feeds[0]!.push(8);
    feeds[1]!.push(8);
    for (let i = 0; i < 5; i++) await step([0, 1]);
    await finish();
    expect(heard.filter((t) => !t[0]).length).toBe(1);
    expect(heard.every((t) => t[1])).toBe(true);
  });

  it('does not wait for one track alone: its speaker may have left', async () => {
    const { heard, step, finish } = await clockWith(['a']);
    for (let i = 0; i < 5; i++) await step([0]);
    const before = heard.length;
    for (let i = 0; i < 5; i++) await step([]);
    expect(heard.length - before).toBe(5);
    await finish();
  });
});
