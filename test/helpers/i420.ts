// Pictures for tests: solid I420 frames, and the mean colour of a decoded RGB picture.
import type { I420 } from '../../src/media/video/i420.ts';

/** A solid I420 picture of the given Y, U and V. */
export function solidYuv(width: number, height: number, [y, u, v]: readonly [number, number, number]): I420 {
  const data = new Uint8Array((width * height * 3) / 2);
  data.fill(y, 0, width * height);
  data.fill(u, width * height, (width * height * 5) / 4);
  data.fill(v, (width * height * 5) / 4);
  return { width, height, data };
}

/** Mean R, G and B of packed rgb24 pixels. */
export function meanRgb(rgb: Uint8Array, pixels = Math.floor(rgb.length / 3)): { r: number; g: number; b: number } {
  const sum = { r: 0, g: 0, b: 0 };
  for (let i = 0; i < pixels; i++) {
    sum.r += rgb[i * 3]!;
    sum.g += rgb[i * 3 + 1]!;
    sum.b += rgb[i * 3 + 2]!;
  }
  return { r: sum.r / pixels, g: sum.g / pixels, b: sum.b / pixels };
}
