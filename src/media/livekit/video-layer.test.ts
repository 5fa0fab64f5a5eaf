import { describe, expect, it } from 'vitest';
import { tileSize } from './video-layer.ts';

describe('tileSize', () => {
  const canvas = { width: 1280, height: 720 };

  it('is the whole canvas for one camera and shrinks as the grid gains columns and rows', () => {
    expect(tileSize(1, canvas)).toEqual({ width: 1280, height: 720 });
    expect(tileSize(2, canvas)).toEqual({ width: 640, height: 720 });
    expect(tileSize(4, canvas)).toEqual({ width: 640, height: 360 });
    // 9 cameras of a 720p call: the 640x360 layer covers a tile, the 1280x720 one is not needed.
    expect(tileSize(9, canvas)).toEqual({ width: 426, height: 240 });
    expect(tileSize(16, canvas)).toEqual({ width: 320, height: 180 });
  });

  it('refuses a grid without tiles', () => {
    expect(() => tileSize(0, canvas)).toThrow(/at least one tile/);
  });
});
