import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { I420Scaler, i420Bytes, ScalerMemory, type PixelRect } from './i420-scaler.ts';
import type { Rect } from './layout.ts';
import type { Size } from './i420.ts';

/** Scales `source` into `rect` of a target filled with `fill`, and returns the target's bytes. */
function scale(source: Uint8Array, sourceSize: Size, crop: Rect, target: Size, rect: PixelRect, fill = 0): Uint8Array {
  const memory = new ScalerMemory();
  const at = memory.alloc(i420Bytes(target));
  memory.bytes().fill(fill, at, at + i420Bytes(target));
  new I420Scaler(memory, sourceSize, crop, target, at, rect).draw(source);
  return memory.bytes().slice(at, at + i420Bytes(target));
}

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
    const target = scale(ramp(16, 8), { width: 16, height: 8 }, { x: 0, y: 0, width: 16, height: 8 }, { width: 32, height: 16 }, { x0: 8, y0: 4, x1: 24, y1: 12 }, 7);
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
    const half = scale(source, { width: 64, height: 16 }, { x: 0, y: 0, width: 64, height: 16 }, { width: 32, height: 8 }, { x0: 0, y0: 0, x1: 32, y1: 8 });
    // Destination pixel i samples source 2i + 0.5: halfway between x = 2i and 2i + 1.
    expect(Array.from(half.subarray(0, 4))).toEqual([1, 3, 5, 7]);
    const cropped = scale(source, { width: 64, height: 16 }, { x: 32, y: 0, width: 32, height: 8 }, { width: 32, height: 8 }, { x0: 0, y0: 0, x1: 32, y1: 8 });
    expect(Array.from(cropped.subarray(0, 4))).toEqual([32, 33, 34, 35]);
  });

  it('refuses a rectangle outside the picture and a picture too short', () => {
    const memory = new ScalerMemory();
    expect(() => new I420Scaler(memory, { width: 4, height: 4 }, { x: 0, y: 0, width: 4, height: 4 }, { width: 8, height: 8 }, 0, { x0: 4, y0: 4, x1: 10, y1: 8 })).toThrow(/outside a picture of 8x8/);
    const scaler = new I420Scaler(memory, { width: 4, height: 4 }, { x: 0, y: 0, width: 4, height: 4 }, { width: 8, height: 8 }, memory.alloc(96), { x0: 0, y0: 0, x1: 4, y1: 4 });
    expect(() => scaler.draw(new Uint8Array(10))).toThrow(/source picture of 10 bytes, where 24 were expected/);
  });

  it('runs the WebAssembly that its AssemblyScript source builds to (npm run build:wasm)', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mrr-wasm-')), 'scale-plane.wasm');
    const script = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).scripts['build:wasm'] as string;
    const args = script.split(' ').slice(1).map((a) => (a === 'src/media/video/wasm/scale-plane.wasm' ? out : a));
    execFileSync(new URL('../../../node_modules/.bin/asc', import.meta.url).pathname, args, { cwd: new URL('../../../', import.meta.url).pathname });
    expect(readFileSync(out).equals(readFileSync(new URL('./wasm/scale-plane.wasm', import.meta.url)))).toBe(true);
  }, 60_000);

  it('scales wide pictures the same in its SIMD lanes and its scalar tail', () => {
    // 13 columns: one SIMD group of 8 and 5 left; every destination pixel against the formula.
    const source = ramp(40, 4);
    const out = scale(source, { width: 40, height: 4 }, { x: 0, y: 0, width: 40, height: 4 }, { width: 14, height: 4 }, { x0: 0, y0: 0, x1: 13, y1: 4 });
    for (let x = 0; x < 13; x++) {
      const at = Math.min(39, Math.max(0, (x + 0.5) * (40 / 13) - 0.5));
      expect(Math.abs(out[x]! - at)).toBeLessThanOrEqual(1);
    }
  });
});
