import { describe, expect, it } from 'vitest';
import { fileOffsetAt, matchOverlap, stitchPlan } from './handover-cut.ts';

describe('fileOffsetAt', () => {
  it('places a wall-clock time in the files by what is written now', () => {
    // 10 s written, the next chunk was heard at t=20 000: t=19 000 is 9 s into the files.
    expect(fileOffsetAt(19_000, 10_000, 20_000)).toBe(9_000);
  });

  it('counts a pause before now out (the files skip it)', () => {
    // Started at t=0, paused 3 s: 7 s written when the next chunk is heard at t=10 000.
    expect(fileOffsetAt(9_500, 7_000, 10_000)).toBe(6_500);
  });

  it('places a moment the clock has not reached yet (it runs a prebuffer behind) past what is written', () => {
    expect(fileOffsetAt(20_060, 10_000, 20_000)).toBe(10_060);
  });

  it('never before the files begin', () => {
    expect(fileOffsetAt(5_000, 10_000, 20_000)).toBe(0);
  });
});

describe('stitchPlan', () => {
  it('cuts overlapping hand-over segments where the manifest says, in segment order', () => {
    const plan = stitchPlan([
      { index: 1, dir: 'segment-1', durationMs: 8_000, playFromMs: 1_700 },
      { index: 0, dir: 'segment-0', durationMs: 12_300, playUntilMs: 11_900 },
    ]);
    expect(plan).toEqual([
      { index: 0, dir: 'segment-0', fromMs: 0, untilMs: 11_900 },
      { index: 1, dir: 'segment-1', fromMs: 1_700, untilMs: 8_000 },
    ]);
  });

  it('plays a crash-cut segment whole, and a chain of hand-overs from and up to its cuts', () => {
    const plan = stitchPlan([
      { index: 0, dir: 'segment-0', durationMs: 5_000 },
      { index: 1, dir: 'segment-1', durationMs: 9_000, playFromMs: 2_000, playUntilMs: 8_000 },
      { index: 2, dir: 'segment-2', durationMs: 4_000, playFromMs: 1_000 },
    ]);
    expect(plan.map((p) => [p.fromMs, p.untilMs])).toEqual([
      [0, 5_000],
      [2_000, 8_000],
      [1_000, 4_000],
    ]);
  });

  it('never plays past a file or backwards (a cut beyond what a killed worker wrote)', () => {
    expect(stitchPlan([{ index: 0, dir: 'segment-0', durationMs: 3_000, playFromMs: 4_000, playUntilMs: 9_000 }])[0]).toMatchObject({ fromMs: 3_000, untilMs: 3_000 });
    expect(stitchPlan([{ index: 0, dir: 'segment-0', durationMs: 3_000, playFromMs: 2_000, playUntilMs: 1_000 }])[0]).toMatchObject({ fromMs: 2_000, untilMs: 2_000 });
  });
});

describe('matchOverlap', () => {
  const RATE = 8_000;
  // Noise-like audio (a deterministic pseudo-random sequence) has one clear match.
  const noise = (length: number, seed = 1) => {
    let x = seed;
    return Int16Array.from({ length }, () => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return (x % 20_000) - 10_000;
    });
  };
  const tone = (length: number, hz: number) => Int16Array.from({ length }, (_, i) => Math.round(Math.sin((2 * Math.PI * hz * i) / RATE) * 9_000));

  it('finds how far the later segment placed the same audio from where its clock said', () => {
    const signal = noise(RATE * 3);
    const maxLag = 1_200;
    // The earlier segment's audio from its cut at 1 s; the later one's clock put that instant 80 ms (640 samples) too early.
    const reference = signal.subarray(RATE, RATE + 6_400);
    const cutInLater = RATE - 640;
    const search = signal.subarray(cutInLater - maxLag, cutInLater + 6_400 + maxLag);
    const match = matchOverlap(reference, search, maxLag, 80);
    expect(match.lag).toBe(640);
    expect(match.score).toBeGreaterThan(0.99);
    expect(match.runnerUp).toBeLessThan(0.2);
  });

  it('says a steady tone is ambiguous (its runner-up scores as well as its best)', () => {
    const signal = tone(RATE * 3, 440);
    const reference = signal.subarray(RATE, RATE + 6_400);
    const match = matchOverlap(reference, signal.subarray(RATE - 1_200, RATE + 6_400 + 1_200), 1_200, 80);
    expect(match.score - match.runnerUp).toBeLessThan(0.01);
  });

  it('scores silence 0 and refuses a search window too short for its lags', () => {
    expect(matchOverlap(new Int16Array(100), new Int16Array(140), 20, 5).score).toBe(0);
    expect(() => matchOverlap(new Int16Array(100), new Int16Array(120), 20, 5)).toThrow(/fewer than the 140/);
  });
});
