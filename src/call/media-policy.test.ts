import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CallAudio } from './call-audio.ts';
import { MediaPolicy } from './media-policy.ts';

describe('MediaPolicy', () => {
  it('answers with the state in force when a moment was heard', () => {
    const policy = new MediaPolicy();
    policy.set(1_000, { paused: true, records: () => true });
    policy.set(2_000, { paused: false, records: (u) => u !== '@bob:hs' });
    expect(policy.at(999).paused).toBe(false);
    expect(policy.at(1_500).paused).toBe(true);
    expect(policy.at(2_500).paused).toBe(false);
    expect(policy.at(2_500).records('@bob:hs')).toBe(false);
    expect(policy.at(1_500).records('@bob:hs')).toBe(true);
  });

  it('a change dated before the latest one takes effect with it (never rewrites what was already judged)', () => {
    const policy = new MediaPolicy();
    policy.set(2_000, { paused: true, records: () => true });
    policy.set(1_000, { paused: false, records: () => true });
    expect(policy.at(1_500).paused).toBe(false);
    expect(policy.at(2_000).paused).toBe(false);
  });
});

describe('CallAudio with a policy', () => {
  it('drops a left-out speaker from the mix and their chunk, and everything while paused', async () => {
    let now = 0;
    const policy = new MediaPolicy();
    const audio = new CallAudio({ log: pino({ level: 'silent' }), policy, timeline: { prebufferMs: 0, maxBufferMs: 1_000, maxStallDelayMs: 0 }, now: () => now });
    const ticks: Array<{ paused: boolean; peak: number; chunks: Array<number | undefined> }> = [];
    audio.subscribe((t) => ticks.push({ paused: t.paused, peak: Math.max(...t.mixed), chunks: t.speakers.map((s) => s.chunk?.[0]) }));
    const frames = (value: number) =>
      (async function* () {
        for (let i = 0; i < 10; i++) yield { sampleRate: 48_000, channels: 1, data: new Int16Array(960).fill(value) } as never;
      })();
    audio.start();
    audio.addTrack({ key: 'a', label: 'a', userId: '@alice:hs' }, frames(100));
    audio.addTrack({ key: 'b', label: 'b', userId: '@bob:hs' }, frames(1_000));
    await new Promise((r) => setTimeout(r, 10));
    policy.set(20, { paused: false, records: (u) => u !== '@bob:hs' });
    policy.set(60, { paused: true, records: () => true });
    now = 80; // four chunks: heard at 0, 20, 40, 60
    await audio.finish();
    expect(ticks.slice(0, 4)).toEqual([
      { paused: false, peak: 1_100, chunks: [100, 1_000] },
      { paused: false, peak: 100, chunks: [100, undefined] },
      { paused: false, peak: 100, chunks: [100, undefined] },
      { paused: true, peak: 0, chunks: [undefined, undefined] },
    ]);
  });
});
