import { describe, expect, it } from 'vitest';
import { gridLayout } from './grid.ts';

describe('gridLayout', () => {
  it('is one full tile for one member, 2x2 for four, 3 columns for five', () => {
    expect(gridLayout(1, { width: 1280, height: 720 })).toEqual([{ x: 0, y: 0, width: 1280, height: 720 }]);
    expect(gridLayout(4, { width: 1280, height: 720 }).map((t) => [t.x, t.y])).toEqual([[0, 0], [640, 0], [0, 360], [640, 360]]);
    const five = gridLayout(5, { width: 1280, height: 720 });
    expect(five[0]).toEqual({ x: 0, y: 0, width: 426, height: 360 });
    expect(five[4]).toEqual({ x: 426, y: 360, width: 426, height: 360 });
  });

  it('has no tiles for nobody', () => {
    expect(gridLayout(0, { width: 640, height: 360 })).toEqual([]);
  });
});
