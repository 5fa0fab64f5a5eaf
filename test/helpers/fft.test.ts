import { describe, expect, it } from 'vitest';
import { dominantFrequency, rms, toneSnrDb } from './fft.ts';

const tone = (hz: number, seconds = 1, noise = 0) =>
  Float64Array.from({ length: 48_000 * seconds }, (_, i) => Math.sin((2 * Math.PI * hz * i) / 48_000) * 10_000 + (Math.random() - 0.5) * noise);

describe('fft helpers', () => {
  it.each([440, 660, 1000])('finds %d Hz within 1 Hz, with noise', (hz) => {
    expect(Math.abs(dominantFrequency(tone(hz, 1, 2000), 48_000) - hz)).toBeLessThan(1);
    expect(toneSnrDb(tone(hz, 1, 2000), 48_000, hz)).toBeGreaterThan(20);
  });
  it('a tone is not another tone, and silence has no energy', () => {
    expect(toneSnrDb(tone(440), 48_000, 660)).toBeLessThan(-20);
    expect(rms(new Float64Array(1000))).toBe(0);
  });
});
