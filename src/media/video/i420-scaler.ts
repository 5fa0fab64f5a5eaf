// Scales a part of an I420 picture into a rectangle of another I420 picture, plane by plane, with
// bilinear filtering in 8-bit fixed point. The call's picture takes every camera 30 times a
// second: converting each camera frame to RGBA for Skia and the finished picture back to I420
// allocated ~450 MB/s at 8 cameras, and the same scaling in JavaScript took ~0.7 ms per 416x234
// tile. The pixel loops run in WebAssembly with SIMD (wasm/scale-plane.as.ts), in a memory of
// their own: where each destination pixel reads from is worked out once per layout, and a frame
// is a copy in (of a camera frame not copied in before), the loops, and no allocation.
import { readFileSync } from 'node:fs';
import { i420Bytes, planeOffsets, planeSizes, type I420, type Size } from './i420.ts';
import type { Rect } from './layout.ts';

/** A rectangle on whole pixels: [x0, x1) × [y0, y1). */
export interface PixelRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

interface ScaleExports {
  memory: WebAssembly.Memory;
  scalePlane(src: number, srcStride: number, dst: number, dstStride: number, width: number, height: number, xNear: number, xWeight: number, xBlocks: number, yNear: number, yWeight: number, scratch: number): void;
}

const WASM = new WebAssembly.Module(readFileSync(new URL('./wasm/scale-plane.wasm', import.meta.url)));
const PAGE = 65_536;

/** The scalers' memory: one WebAssembly instance, its memory handed out per layout (reset, then allocated again). */
export class ScalerMemory {
  readonly #exports: ScaleExports;
  #top = 16;
  #generation = 0;

  constructor() {
    this.#exports = new WebAssembly.Instance(WASM, {}).exports as unknown as ScaleExports;
  }

  /** Forgets every allocation (the scalers built on them are not to be used again). */
  reset(): void {
    this.#top = 16;
    this.#generation++;
  }

  /** Counts resets: what was built on the memory before the last one reads it under this number. */
  get generation(): number {
    return this.#generation;
  }

  /** `bytes` of memory, 16-byte aligned for SIMD loads. */
  alloc(bytes: number): number {
    const at = this.#top;
    this.#top = Math.ceil((at + bytes) / 16) * 16;
    const memory = this.#exports.memory;
    if (this.#top > memory.buffer.byteLength) memory.grow(Math.ceil((this.#top - memory.buffer.byteLength) / PAGE));
    return at;
  }

  /** The memory's bytes (a new view after any allocation: growing detaches the old one). */
  bytes(): Uint8Array {
    return new Uint8Array(this.#exports.memory.buffer);
  }

  get scalePlane(): ScaleExports['scalePlane'] {
    return this.#exports.scalePlane;
  }
}

/** The chroma pixels a luma rectangle touches (chroma has half the resolution both ways). */
export const chromaRect = (luma: PixelRect): PixelRect => ({ x0: luma.x0 >> 1, y0: luma.y0 >> 1, x1: (luma.x1 + 1) >> 1, y1: (luma.y1 + 1) >> 1 });

/**
 * Taps mapping `count` destination pixels onto source pixels [start, start + span) of a line
 * `length` long: the nearer source pixel (the other is the next one) and the next one's weight
 * out of 256.
 */
function axis(count: number, start: number, span: number, length: number): { near: Int32Array; weight: Int32Array } {
  const near = new Int32Array(count);
  const weight = new Int32Array(count);
  const step = span / count;
  for (let i = 0; i < count; i++) {
    // Pixel centres line up: destination centre i + 0.5 maps to start + (i + 0.5) * step.
    const at = Math.min(length - 1, Math.max(0, start + (i + 0.5) * step - 0.5));
    let n = Math.floor(at);
    let w = Math.round((at - n) * 256);
    // The last pixel is read as the second tap of the one before it, so the next one always exists.
    if (length >= 2 && n >= length - 1) [n, w] = [length - 2, 256];
    near[i] = n;
    weight[i] = w;
  }
  return { near, weight };
}

/** Bytes of one block's record in the table `acrossBlocks` builds (BLOCK in scale-plane.as.ts). */
const BLOCK = 64;
/** Source bytes one SIMD load reads; a block of columns may read two, from its first tap on. */
const LOAD = 16;

/**
 * The gather of each block of 8 destination columns for the WebAssembly's SIMD pass across (see
 * scale-plane.as.ts): swizzle indices of the near and far taps relative to the block's first tap,
 * the weights as u16, that first tap, or -1 where the block's taps span more than two loads
 * (downscaling by more than about 4) and it is interpolated pixel by pixel, and the loads needed.
 */
export function acrossBlocks(near: Int32Array, weight: Int32Array): Uint8Array {
  const blocks = Math.floor(near.length / 8);
  const table = new Uint8Array(blocks * BLOCK);
  const view = new DataView(table.buffer);
  for (let k = 0; k < blocks; k++) {
    const at = k * BLOCK;
    const base = near[k * 8]!;
    const last = near[k * 8 + 7]! + 1 - base;
    if (last >= 2 * LOAD) {
      view.setInt32(at + 48, -1, true);
      continue;
    }
    for (let j = 0; j < 8; j++) {
      const n = near[k * 8 + j]! - base;
      // Little-endian u16 lanes: the tap's byte low, 0xff (out of range: 0) high.
      table[at + 2 * j] = n;
      table[at + 2 * j + 1] = 0xff;
      table[at + 16 + 2 * j] = n + 1;
      table[at + 16 + 2 * j + 1] = 0xff;
      view.setUint16(at + 32 + 2 * j, weight[k * 8 + j]!, true);
    }
    view.setInt32(at + 48, base, true);
    view.setInt32(at + 52, last < LOAD ? 1 : 2, true);
  }
  return table;
}

/** One plane's call to the WebAssembly loops: pointers into the scalers' memory. */
interface PlaneCall {
  src: number;
  srcStride: number;
  dst: number;
  dstStride: number;
  width: number;
  height: number;
  xNear: number;
  xWeight: number;
  xBlocks: number;
  yNear: number;
  yWeight: number;
  scratch: number;
}

/**
 * Draws `crop` of a source picture of `source` size into `rect` of the destination picture of
 * `target` size that lies at `targetAt` in `memory`. Built once per layout and source size; `draw`
 * is called per frame.
 */
export class I420Scaler {
  readonly #memory: ScalerMemory;
  readonly #sourceAt: number;
  readonly #sourceBytes: number;
  readonly #planes: PlaneCall[];
  /** The picture whose pixels are in the memory now. */
  #copied: I420 | undefined;

  constructor(memory: ScalerMemory, source: Size, crop: Rect, target: Size, targetAt: number, rect: PixelRect) {
    if (target.width % 2 || target.height % 2) throw new Error(`the destination picture must have even sides, not ${target.width}x${target.height}`);
    if (rect.x0 < 0 || rect.y0 < 0 || rect.x1 > target.width || rect.y1 > target.height || rect.x1 <= rect.x0 || rect.y1 <= rect.y0) {
      throw new Error(`a tile ${JSON.stringify(rect)} outside a picture of ${target.width}x${target.height}`);
    }
    if (crop.width <= 0 || crop.height <= 0) throw new Error(`an empty part ${JSON.stringify(crop)} of the source picture`);
    this.#memory = memory;
    this.#sourceBytes = i420Bytes(source);
    // Slack after the last row: the SIMD pass across loads up to 32 bytes from a block's first tap,
    // which is at most the row's last pixel (this also covers the second tap of a one-pixel-wide
    // plane, read with weight 0).
    this.#sourceAt = memory.alloc(this.#sourceBytes + 2 * LOAD);
    const srcSizes = planeSizes(source);
    const srcOffsets = planeOffsets(source);
    const dstSizes = planeSizes(target);
    const dstOffsets = planeOffsets(target);
    this.#planes = [0, 1, 2].map((p) => {
      const scale = p === 0 ? 1 : 2;
      const r = p === 0 ? rect : chromaRect(rect);
      const src = srcSizes[p]!;
      const dstStride = dstSizes[p]!.width;
      const width = r.x1 - r.x0;
      const height = r.y1 - r.y0;
      const x = axis(width, crop.x / scale, crop.width / scale, src.width);
      const y = axis(height, crop.y / scale, crop.height / scale, src.height);
      return {
        src: this.#sourceAt + srcOffsets[p]!,
        srcStride: src.width,
        dst: targetAt + dstOffsets[p]! + r.y0 * dstStride + r.x0,
        dstStride,
        width,
        height,
        xNear: this.#table(x.near),
        xWeight: this.#table(x.weight),
        xBlocks: this.#bytes(acrossBlocks(x.near, x.weight)),
        yNear: this.#table(y.near),
        yWeight: this.#table(y.weight),
        scratch: memory.alloc(4 * width),
      };
    });
  }

  /**
   * Scales `picture` (of the size this was built for) into the target's rectangle. The same
   * picture object as last time is not copied in again: a new frame comes as a new object
   * (CallVideo makes one per frame, though it reuses the buffer under it), so the same one means
   * the same pixels, and with cameras slower than the picture's rate that is a good part of the
   * tiles of a frame.
   */
  draw(picture: I420): void {
    if (picture !== this.#copied) {
      const source = picture.data;
      if (source.length < this.#sourceBytes) throw new Error(`a source picture of ${source.length} bytes, where ${this.#sourceBytes} were expected`);
      this.#memory.bytes().set(source.subarray(0, this.#sourceBytes), this.#sourceAt);
      this.#copied = picture;
    }
    const scalePlane = this.#memory.scalePlane;
    for (const p of this.#planes) scalePlane(p.src, p.srcStride, p.dst, p.dstStride, p.width, p.height, p.xNear, p.xWeight, p.xBlocks, p.yNear, p.yWeight, p.scratch);
  }

  #table(values: Int32Array): number {
    return this.#bytes(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  #bytes(values: Uint8Array): number {
    const at = this.#memory.alloc(values.byteLength);
    this.#memory.bytes().set(values, at);
    return at;
  }
}
