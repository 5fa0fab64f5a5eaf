import { describe, expect, it } from 'vitest';
import { PUBLISH_FRAME_SAMPLES, splitFrames } from './audio-publisher.ts';

describe('splitFrames', () => {
  it('cuts a clip into 10 ms frames and pads the last with silence', () => {
    const clip = Int16Array.from({ length: PUBLISH_FRAME_SAMPLES * 2 + 7 }, (_, i) => i + 1);
    const frames = splitFrames(clip);
    expect(frames.map((f) => f.length)).toEqual([PUBLISH_FRAME_SAMPLES, PUBLISH_FRAME_SAMPLES, PUBLISH_FRAME_SAMPLES]);
    expect(frames[2]![6]).toBe(PUBLISH_FRAME_SAMPLES * 2 + 7);
    expect(frames[2]![7]).toBe(0);
    expect(splitFrames(new Int16Array(0))).toEqual([]);
  });
});
