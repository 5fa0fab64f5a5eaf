import { describe, expect, it } from 'vitest';
import { I420Scaler, i420Bytes } from './i420-scaler.ts';

/** A picture whose luma rises left to right (x), chroma top to bottom (y): where each pixel came from shows. */
function ramp(width: number, height: number): Uint8Array {
  const data = new Uint8Array(i420Bytes({ width, height }));
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = x;
  const cw = width / 2;
  const ch = height / 2;
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) {
    data[width * height + y * cw + x] = y;
    data[width * height + cw * ch + y * cw + x] = 200 - y;
  }
  return data;
}

describe('I420Scaler', () => {
  it('copies a picture of the same size exactly, into the given rectangle only', () => {
    const source = ramp(16, 8);
    const target = new Uint8Array(i420Bytes({ width: 32, height: 16 })).fill(7);
    new I420Scaler({ width: 16, height: 8 }, { x: 0, y: 0, width: 16, height: 8 }, { width: 32, height: 16 }, { x0: 8, y0: 4, x1: 24, y1: 12 }).draw(source, target);
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 32; x++) {
        const inside = x >= 8 && x < 24 && y >= 4 && y < 12;
        expect(target[y * 32 + x]).toBe(inside ? x - 8 : 7);
      }
    // Chroma: rows 2..5 of the 16x8 chroma plane hold the source's chroma rows 0..3.
    expect(target[32 * 16 + 3 * 16 + 5]).toBe(1);
    expect(target[32 * 16 + 8 * 16 + 3 * 16 + 5]).toBe(199);
    expect(target[32 * 16 + 0]).toBe(7);
  });

  it('halves a picture by averaging neighbours, and crops before scaling', () => {
    const source = ramp(64, 16);
    const half = new Uint8Array(i420Bytes({ width: 32, height: 8 }));
    new I420Scaler({ width: 64, height: 16 }, { x: 0, y: 0, width: 64, height: 16 }, { width: 32, height: 8 }, { x0: 0, y0: 0, x1: 32, y1: 8 }).draw(source, half);
    // Destination pixel i samples source 2i + 0.5: halfway between x = 2i and 2i + 1.
    expect(Array.from(half.subarray(0, 4))).toEqual([1, 3, 5, 7]);
    const cropped = new Uint8Array(i420Bytes({ width: 32, height: 8 }));
    new I420Scaler({ width: 64, height: 16 }, { x: 32, y: 0, width: 32, height: 8 }, { width: 32, height: 8 }, { x0: 0, y0: 0, x1: 32, y1: 8 }).draw(source, cropped);
    expect(Array.from(cropped.subarray(0, 4))).toEqual([32, 33, 34, 35]);
  });

  it('refuses a rectangle outside the picture and a picture too short', () => {
    expect(() => new I420Scaler({ width: 4, height: 4 }, { x: 0, y: 0, width: 4, height: 4 }, { width: 8, height: 8 }, { x0: 4, y0: 4, x1: 10, y1: 8 })).toThrow(/outside a picture of 8x8/);
    const scaler = new I420Scaler({ width: 4, height: 4 }, { x: 0, y: 0, width: 4, height: 4 }, { width: 8, height: 8 }, { x0: 0, y0: 0, x1: 4, y1: 4 });
    expect(() => scaler.draw(new Uint8Array(10), new Uint8Array(96))).toThrow(/source picture of 10 bytes, where 24 were expected/);
  });
});
