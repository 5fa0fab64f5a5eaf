import { describe, expect, it } from 'vitest';
import { blankI420, drawI420, gridLayout, type I420 } from './grid.ts';

const solid = (width: number, height: number, [y, u, v]: [number, number, number]): I420 => {
  const data = new Uint8Array(width * height * 1.5);
  data.fill(y, 0, width * height);
  data.fill(u, width * height, width * height * 1.25);
  data.fill(v, width * height * 1.25);
  return { width, height, data };
};
const lumaAt = (p: I420, x: number, y: number) => p.data[y * p.width + x];
const uAt = (p: I420, x: number, y: number) => p.data[p.width * p.height + (y >> 1) * (p.width / 2) + (x >> 1)];

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

describe('drawI420', () => {
  it('scales a picture into its tile, keeps the aspect ratio and letterboxes in black', () => {
    const canvas = blankI420({ width: 320, height: 180 });
    const [left, right] = gridLayout(2, canvas);
    // A 4:3 picture in a 160x180 tile: 160x120, centred vertically.
    drawI420(canvas.data, canvas, left!, solid(64, 48, [200, 50, 220]));
    expect(lumaAt(canvas, 80, 90)).toBe(200);
    expect(uAt(canvas, 80, 90)).toBe(50);
    expect(lumaAt(canvas, 80, 10)).toBe(16); // letterbox
    expect(lumaAt(canvas, 240, 90)).toBe(16); // the other tile stays black
    drawI420(canvas.data, canvas, right!, solid(16, 16, [100, 128, 128]));
    expect(lumaAt(canvas, 240, 90)).toBe(100);
    expect(lumaAt(canvas, 80, 90)).toBe(200);
  });

  it('paints the letterbox black over whatever the tile showed before, and leaves the neighbours alone', () => {
    const canvas = blankI420({ width: 320, height: 180 });
    const [left, right] = gridLayout(2, canvas);
    drawI420(canvas.data, canvas, right!, solid(16, 16, [100, 90, 80]));
    drawI420(canvas.data, canvas, left!, solid(160, 180, [200, 50, 220])); // fills the tile
    const blackAt = (points: ReadonlyArray<readonly [number, number]>) => points.map(([x, y]) => [lumaAt(canvas, x, y), uAt(canvas, x, y)]);
    drawI420(canvas.data, canvas, left!, solid(64, 48, [60, 70, 75])); // 4:3: bars above and below
    expect(blackAt([[80, 10], [80, 170]])).toEqual([[16, 128], [16, 128]]);
    expect([lumaAt(canvas, 80, 90), uAt(canvas, 80, 90)]).toEqual([60, 70]);
    drawI420(canvas.data, canvas, left!, solid(16, 48, [60, 70, 75])); // tall: bars left and right
    expect(blackAt([[10, 90], [150, 90]])).toEqual([[16, 128], [16, 128]]);
    expect([lumaAt(canvas, 80, 90), uAt(canvas, 80, 90)]).toEqual([60, 70]);
    expect([lumaAt(canvas, 240, 90), uAt(canvas, 240, 90)]).toEqual([100, 90]);
  });
});
