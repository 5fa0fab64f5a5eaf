import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acrossBlocks, chromaRect, I420Scaler, ScalerMemory, type PixelRect } from './i420-scaler.ts';
import { i420Bytes, planeOffsets, type Size } from './i420.ts';
import type { Rect } from './layout.ts';

/** Scales `source` into `rect` of a target filled with `fill`, and returns the target's bytes. */
function scale(source: Uint8Array, sourceSize: Size, crop: Rect, target: Size, rect: PixelRect, fill = 0): Uint8Array {
  const memory = new ScalerMemory();
  const at = memory.alloc(i420Bytes(target));
  memory.bytes().fill(fill, at, at + i420Bytes(target));
  new I420Scaler(memory, sourceSize, crop, target, at, rect).draw({ ...sourceSize, data: source });
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

/** Bytes from a fixed seed, so that a pixel taken from the wrong column shows. */
function noise(length: number, seed: number): Uint8Array {
  const data = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return data;
}

/** Bilinear taps written out plainly: destination centres on source centres, weights in 1/256. */
function taps(count: number, start: number, span: number, length: number): Array<[number, number]> {
  return Array.from({ length: count }, (_, i) => {
    const at = Math.min(length - 1, Math.max(0, start + ((i + 0.5) * span) / count - 0.5));
    const n = Math.floor(at);
    const w = Math.round((at - n) * 256);
    return length >= 2 && n >= length - 1 ? [length - 2, 256] : [n, w];
  });
}

/** Plane `p` of `crop` of `source` scaled to `rect`, one pixel at a time in the scaler's fixed point. */
function referencePlane(source: Uint8Array, size: Size, crop: Rect, rect: PixelRect, p: number): number[][] {
  const scale = p === 0 ? 1 : 2;
  const width = p === 0 ? size.width : Math.ceil(size.width / 2);
  const height = p === 0 ? size.height : Math.ceil(size.height / 2);
  const r = p === 0 ? rect : chromaRect(rect);
  const plane = source.subarray(planeOffsets(size)[p]!);
  const xs = taps(r.x1 - r.x0, crop.x / scale, crop.width / scale, width);
  const ys = taps(r.y1 - r.y0, crop.y / scale, crop.height / scale, height);
  const across = (row: number, [n, w]: [number, number]) => {
    const a = plane[row * width + n]!;
    const b = plane[row * width + Math.min(n + 1, width - 1)]!;
    return (a << 8) + (b - a) * w;
  };
  return ys.map(([n, w]) => xs.map((x) => {
    const upper = across(n, x);
    const lower = across(Math.min(n + 1, height - 1), x);
    return ((upper << 8) + (lower - upper) * w + 32768) >> 16;
  }));
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

  it('copies a picture in again only when it is a new object, though its buffer be the same', () => {
    const memory = new ScalerMemory();
    const at = memory.alloc(i420Bytes({ width: 16, height: 8 }));
    const scaler = new I420Scaler(memory, { width: 16, height: 8 }, { x: 0, y: 0, width: 16, height: 8 }, { width: 16, height: 8 }, at, { x0: 0, y0: 0, x1: 16, y1: 8 });
    const frame = { width: 16, height: 8, data: ramp(16, 8) };
    const luma = () => Array.from(memory.bytes().subarray(at, at + 4));
    scaler.draw(frame);
    expect(luma()).toEqual([0, 1, 2, 3]);
    // The next frame into the same buffer (as CallVideo keeps a tile's frames): the old object is not drawn again, the new one is.
    frame.data.fill(9);
    memory.bytes().fill(0, at, at + 4);
    scaler.draw(frame);
    expect(luma()).toEqual([0, 1, 2, 3]);
    scaler.draw({ ...frame });
    expect(luma()).toEqual([9, 9, 9, 9]);
  });

  it('refuses a rectangle outside the picture and a picture too short', () => {
    const memory = new ScalerMemory();
    expect(() => new I420Scaler(memory, { width: 4, height: 4 }, { x: 0, y: 0, width: 4, height: 4 }, { width: 8, height: 8 }, 0, { x0: 4, y0: 4, x1: 10, y1: 8 })).toThrow(/outside a picture of 8x8/);
    const scaler = new I420Scaler(memory, { width: 4, height: 4 }, { x: 0, y: 0, width: 4, height: 4 }, { width: 8, height: 8 }, memory.alloc(96), { x0: 0, y0: 0, x1: 4, y1: 4 });
    expect(() => scaler.draw({ width: 4, height: 4, data: new Uint8Array(10) })).toThrow(/source picture of 10 bytes, where 24 were expected/);
  });

  it('runs the WebAssembly that its AssemblyScript source builds to (npm run build:wasm)', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mrr-wasm-')), 'scale-plane.wasm');
    const script = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).scripts['build:wasm'] as string;
    const args = script.split(' ').slice(1).map((a) => (a === 'src/media/video/wasm/scale-plane.wasm' ? out : a));
    execFileSync(new URL('../../../node_modules/.bin/asc', import.meta.url).pathname, args, { cwd: new URL('../../../', import.meta.url).pathname });
    expect(readFileSync(out).equals(readFileSync(new URL('./wasm/scale-plane.wasm', import.meta.url)))).toBe(true);
  }, 60_000);

  it('gathers blocks of 8 columns with SIMD where their taps fit two 16-byte loads, else pixel by pixel', () => {
    const x = (count: number, length: number) => {
      const t = taps(count, 0, length, length);
      return acrossBlocks(Int32Array.from(t, ([n]) => n), Int32Array.from(t, ([, w]) => w));
    };
    const field = (table: Uint8Array, offset: number) => Array.from({ length: table.length / 64 }, (_, k) => new DataView(table.buffer).getInt32(k * 64 + offset, true));
    const loads = (table: Uint8Array) => new Set(field(table, 48).map((first, k) => (first < 0 ? 0 : field(table, 52)[k])));
    expect(loads(x(416, 640))).toEqual(new Set([1]));
    expect(loads(x(320, 640))).toEqual(new Set([1])); // halving: taps 0..15 exactly
    expect(loads(x(302, 640))).toEqual(new Set([1, 2])); // 16 cameras' tiles: 7 blocks of 37 span 15 bytes
    expect(loads(x(416, 1280))).toEqual(new Set([2]));
    expect(loads(x(100, 640))).toEqual(new Set([0]));
    expect(field(x(13, 40), 48)).toEqual([1]); // 13 columns: one block, from source column 1, and a tail of 5
  });

  it('matches a plain bilinear reference on every plane, scaling down and up, with SIMD, scalar blocks and tails', () => {
    const cases: Array<{ source: Size; crop: Rect; target: Size; rect: PixelRect }> = [
      { source: { width: 640, height: 36 }, crop: { x: 0, y: 0, width: 640, height: 36 }, target: { width: 1280, height: 24 }, rect: { x0: 432, y0: 0, x1: 848, y1: 23 } },
      { source: { width: 640, height: 36 }, crop: { x: 0, y: 0, width: 640, height: 36 }, target: { width: 214, height: 12 }, rect: { x0: 0, y0: 0, x1: 213, y1: 12 } },
      { source: { width: 1280, height: 20 }, crop: { x: 0, y: 0, width: 1280, height: 20 }, target: { width: 420, height: 8 }, rect: { x0: 3, y0: 1, x1: 419, y1: 7 } },
      { source: { width: 640, height: 36 }, crop: { x: 0, y: 0, width: 640, height: 36 }, target: { width: 302, height: 18 }, rect: { x0: 0, y0: 0, x1: 302, y1: 17 } },
      // Down by 6.4 (chroma 6.5): taps too far apart for SIMD, pixel by pixel.
      { source: { width: 640, height: 36 }, crop: { x: 0, y: 0, width: 640, height: 36 }, target: { width: 102, height: 8 }, rect: { x0: 1, y0: 0, x1: 101, y1: 7 } },
      { source: { width: 320, height: 18 }, crop: { x: 0, y: 0, width: 320, height: 18 }, target: { width: 420, height: 24 }, rect: { x0: 2, y0: 0, x1: 418, y1: 23 } },
      { source: { width: 101, height: 15 }, crop: { x: 0, y: 0, width: 101, height: 15 }, target: { width: 80, height: 10 }, rect: { x0: 1, y0: 1, x1: 78, y1: 10 } },
      { source: { width: 203, height: 9 }, crop: { x: 0, y: 0, width: 203, height: 9 }, target: { width: 312, height: 14 }, rect: { x0: 5, y0: 2, x1: 310, y1: 13 } },
      // A crop from the right edge: the last blocks load 16 bytes starting near the end of a row.
      { source: { width: 640, height: 36 }, crop: { x: 213, y: 4, width: 427, height: 32 }, target: { width: 300, height: 20 }, rect: { x0: 0, y0: 0, x1: 299, y1: 20 } },
    ];
    for (const [c, { source, crop, target, rect }] of cases.entries()) {
      const picture = noise(i420Bytes(source), c + 1);
      const out = scale(picture, source, crop, target, rect);
      for (let p = 0; p < 3; p++) {
        const r = p === 0 ? rect : chromaRect(rect);
        const stride = p === 0 ? target.width : target.width / 2;
        const plane = out.subarray(planeOffsets(target)[p]!);
        const got = Array.from({ length: r.y1 - r.y0 }, (_, y) => Array.from(plane.subarray((r.y0 + y) * stride + r.x0, (r.y0 + y) * stride + r.x1)));
        expect(got, `case ${c}, plane ${p}`).toEqual(referencePlane(picture, source, crop, rect, p));
      }
    }
  });

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
