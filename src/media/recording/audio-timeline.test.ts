import { describe, expect, it } from 'vitest';
import { chunksDue, CHUNK_SAMPLES, JitterBuffer, mixChunks } from './audio-timeline.ts';

const filled = (n: number, value: number) => new Int16Array(n).fill(value);

describe('JitterBuffer', () => {
  it('stays silent until the prebuffer is full, then plays in order', () => {
    const buffer = new JitterBuffer({ prebufferMs: 40, maxBufferMs: 400 });
    buffer.push(filled(960, 1));
    expect(buffer.take(CHUNK_SAMPLES)).toBeUndefined();
    buffer.push(filled(960, 2));
    expect(buffer.take(CHUNK_SAMPLES)![0]).toBe(1);
    expect(buffer.take(CHUNK_SAMPLES)![0]).toBe(2);
  });

  it('goes silent when it runs dry and counts the underrun', () => {
    const buffer = new JitterBuffer({ prebufferMs: 20, maxBufferMs: 400 });
    buffer.push(filled(960, 5));
    expect(buffer.take(960)).toBeDefined();
    expect(buffer.take(960)).toBeUndefined();
    expect(buffer.stats.underruns).toBe(1);
  });

  it('counts the silent chunks of a gap as late once the track plays again, never before its first chunk', () => {
    const buffer = new JitterBuffer({ prebufferMs: 40, maxBufferMs: 400 });
    expect(buffer.take(960)).toBeUndefined(); // not started: not late
    buffer.push(filled(1920, 1));
    buffer.take(960);
    buffer.take(960);
    expect(buffer.take(960)).toBeUndefined(); // ran dry
    expect(buffer.take(960)).toBeUndefined();
    expect(buffer.stats.lateChunks).toBe(0); // the gap has not ended: it may be a leave
    buffer.push(filled(1920, 2));
    expect(buffer.take(960)![0]).toBe(2);
    expect(buffer.stats).toMatchObject({ underruns: 1, lateChunks: 2 });
  });

  it('counts a gap that comes back as digital silence apart: silence was due there (frames not decrypted yet, a muted sender)', () => {
    const buffer = new JitterBuffer({ prebufferMs: 40, maxBufferMs: 400 });
    buffer.push(filled(1920, 0));
    buffer.take(960);
    buffer.take(960);
    expect(buffer.take(960)).toBeUndefined(); // ran dry
    buffer.push(filled(1920, 0));
    buffer.take(960);
    expect(buffer.stats).toMatchObject({ underruns: 1, lateChunks: 0, silentGapChunks: 1 });
    // A gap that comes back with anything audible in what waits is late, however quiet its start.
    buffer.take(960);
    expect(buffer.take(960)).toBeUndefined();
    buffer.push(filled(960, 0));
    buffer.push(filled(960, 3));
    buffer.take(960);
    expect(buffer.stats).toMatchObject({ underruns: 2, lateChunks: 1, silentGapChunks: 1 });
  });

  it('splits and joins frames of other sizes (10 ms frames into 20 ms chunks)', () => {
    const buffer = new JitterBuffer({ prebufferMs: 0, maxBufferMs: 400 });
    buffer.push(filled(480, 1));
    buffer.push(filled(480, 2));
    const chunk = buffer.take(960)!;
    expect([chunk[0], chunk[479], chunk[480], chunk[959]]).toEqual([1, 1, 2, 2]);
  });

  it('drops the oldest audio when a burst exceeds the maximum once trimmed', () => {
    const buffer = new JitterBuffer({ prebufferMs: 20, maxBufferMs: 100 });
    for (let i = 1; i <= 6; i++) buffer.push(filled(960, i));
    expect(buffer.stats.droppedSamples).toBe(0);
    buffer.trim();
    expect(buffer.bufferedSamples).toBe(960);
    expect(buffer.stats.droppedSamples).toBe(5 * 960);
    expect(buffer.take(960)![0]).toBe(6);
  });

  it('counts digital silence dropped by the trim apart from audio', () => {
    const buffer = new JitterBuffer({ prebufferMs: 20, maxBufferMs: 60 });
    buffer.push(filled(960, 0));
    buffer.push(filled(960, 0));
    buffer.push(filled(960, 4));
    buffer.push(filled(960, 5));
    buffer.trim(); // 80 ms: down to 20
    expect(buffer.stats).toMatchObject({ droppedSilentSamples: 2 * 960, droppedSamples: 960 });
    expect(buffer.take(960)![0]).toBe(5);
  });

  it('moves both marks by the extra delay the clock plays out with (stalls it waited out)', () => {
    const buffer = new JitterBuffer({ prebufferMs: 20, maxBufferMs: 100 });
    buffer.push(filled(960, 0));
    buffer.push(filled(960, 1));
    expect(buffer.take(960, 40)).toBeUndefined(); // 40 ms is not yet the prebuffer and the extra delay
    for (let i = 2; i < 6; i++) buffer.push(filled(960, i));
    buffer.trim(40); // 120 ms waiting, within 100 + 40
    expect(buffer.stats.droppedSamples).toBe(0);
    for (let i = 6; i < 8; i++) buffer.push(filled(960, i));
    buffer.trim(40); // 160 ms: down to 20 + 40
    expect(buffer.bufferedSamples).toBe(3 * 960);
    expect(buffer.take(960, 40)![0]).toBe(5);
  });
});

describe('mixChunks', () => {
  it('sums with saturation and treats missing chunks as silence', () => {
    const mixed = mixChunks([filled(4, 30000), filled(4, 10000), undefined], 4);
    expect(mixed[0]).toBe(32767);
    expect(mixChunks([filled(4, -20000), filled(4, -20000)], 4)[0]).toBe(-32768);
    expect(mixChunks([undefined], 4)[0]).toBe(0);
  });
});

describe('chunksDue', () => {
  it('catches up after a late timer', () => {
    expect(chunksDue(0, 19, 0)).toBe(0);
    expect(chunksDue(0, 100, 2)).toBe(3);
    expect(chunksDue(0, 100, 9)).toBe(0);
  });
});
