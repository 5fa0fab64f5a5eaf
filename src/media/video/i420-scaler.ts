// Scales a part of an I420 picture into a rectangle of another I420 picture, plane by plane, with
// bilinear filtering in 8-bit fixed point, writing straight into the destination's bytes. The
// call's picture takes every camera 30 times a second; turning each camera frame into RGBA for
// Skia and the finished picture back into I420 allocated ~450 MB/s at 8 cameras and kept V8's
// collector busier than the drawing itself. Where each destination pixel reads from is worked out
// once per layout, so a frame costs a few multiply-adds per pixel and no allocation.
import type { Size } from './i420.ts';
import type { Rect } from './layout.ts';

/** A rectangle on whole pixels: [x0, x1) × [y0, y1). */
export interface PixelRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The taps of one axis: for each destination pixel, its two source pixels and the second one's weight (0..256). */
interface Axis {
  near: Int32Array;
  far: Int32Array;
  weight: Int32Array;
}

/** One plane's mapping: where it sits in both pictures' bytes, and its taps. */
interface PlaneMap {
  srcOffset: number;
  srcStride: number;
  dstOffset: number;
  dstStride: number;
  /** Destination pixel rectangle inside the plane. */
  rect: PixelRect;
  x: Axis;
  y: Axis;
  /** Two source rows interpolated across, in 1/256ths (reused frame after frame). */
  scratch: [Uint16Array, Uint16Array];
}

const planeSizes = (size: Size): Size[] => {
  const chroma = { width: Math.ceil(size.width / 2), height: Math.ceil(size.height / 2) };
  return [size, chroma, chroma];
};

const planeOffsets = (size: Size): number[] => {
  const [luma, chroma] = planeSizes(size) as [Size, Size];
  const y = luma.width * luma.height;
  return [0, y, y + chroma.width * chroma.height];
};

/** Bytes of an I420 picture of this size (chroma planes rounded up, as libyuv lays them out). */
export const i420Bytes = (size: Size): number => planeOffsets(size)[2]! + Math.ceil(size.width / 2) * Math.ceil(size.height / 2);

/** Taps mapping `count` destination pixels onto source pixels [start, start + span) of a line `length` long. */
function axis(count: number, start: number, span: number, length: number): Axis {
  const near = new Int32Array(count);
  const far = new Int32Array(count);
  const weight = new Int32Array(count);
  const step = span / count;
  for (let i = 0; i < count; i++) {
    // Pixel centres line up: destination centre i + 0.5 maps to start + (i + 0.5) * step.
    const at = Math.min(length - 1, Math.max(0, start + (i + 0.5) * step - 0.5));
    const n = Math.floor(at);
    near[i] = n;
    far[i] = Math.min(length - 1, n + 1);
    weight[i] = Math.round((at - n) * 256);
  }
  return { near, far, weight };
}

/**
 * Draws `crop` of a source picture of `source` size into `rect` of a destination picture of
 * `target` size. Built once per layout and source size; `draw` is called per frame.
 */
export class I420Scaler {
  readonly #planes: PlaneMap[];
  readonly #sourceBytes: number;
  readonly #targetBytes: number;

  constructor(source: Size, crop: Rect, target: Size, rect: PixelRect) {
    if (target.width % 2 || target.height % 2) throw new Error(`the destination picture must have even sides, not ${target.width}x${target.height}`);
    if (rect.x0 < 0 || rect.y0 < 0 || rect.x1 > target.width || rect.y1 > target.height || rect.x1 <= rect.x0 || rect.y1 <= rect.y0) {
      throw new Error(`a tile ${JSON.stringify(rect)} outside a picture of ${target.width}x${target.height}`);
    }
    if (crop.width <= 0 || crop.height <= 0) throw new Error(`an empty part ${JSON.stringify(crop)} of the source picture`);
    this.#sourceBytes = i420Bytes(source);
    this.#targetBytes = i420Bytes(target);
    const srcSizes = planeSizes(source);
    const srcOffsets = planeOffsets(source);
    const dstSizes = planeSizes(target);
    const dstOffsets = planeOffsets(target);
    this.#planes = [0, 1, 2].map((p) => {
      // Chroma has half the resolution: its rectangle covers every chroma pixel the luma rectangle touches.
      const scale = p === 0 ? 1 : 2;
      const r: PixelRect = p === 0 ? rect : { x0: rect.x0 >> 1, y0: rect.y0 >> 1, x1: (rect.x1 + 1) >> 1, y1: (rect.y1 + 1) >> 1 };
      const src = srcSizes[p]!;
      return {
        srcOffset: srcOffsets[p]!,
        srcStride: src.width,
        dstOffset: dstOffsets[p]!,
        dstStride: dstSizes[p]!.width,
        rect: r,
        x: axis(r.x1 - r.x0, crop.x / scale, crop.width / scale, src.width),
        y: axis(r.y1 - r.y0, crop.y / scale, crop.height / scale, src.height),
        scratch: [new Uint16Array(r.x1 - r.x0), new Uint16Array(r.x1 - r.x0)],
      };
    });
  }

  /** Scales `source` (an I420 picture of the size this was built for) into `target`'s rectangle. */
  draw(source: Uint8Array, target: Uint8Array): void {
    if (source.length < this.#sourceBytes) throw new Error(`a source picture of ${source.length} bytes, where ${this.#sourceBytes} were expected`);
    if (target.length < this.#targetBytes) throw new Error(`a destination picture of ${target.length} bytes, where ${this.#targetBytes} were expected`);
    for (const plane of this.#planes) drawPlane(plane, source, target);
  }
}

/**
 * Two passes: each source row the plane needs is interpolated across once (into one of two
 * scratch rows, reused while consecutive destination rows read the same source rows), then each
 * destination row blends its two. Measured at 1.6 against 3.7 ms for a 640x360 luma plane scaled
 * to 1264x704 in one pass, and 0.31 against 0.42 ms scaled to 418x236.
 */
function drawPlane(plane: PlaneMap, src: Uint8Array, dst: Uint8Array): void {
  const { rect, y, srcOffset, srcStride, dstOffset, dstStride } = plane;
  const width = rect.x1 - rect.x0;
  let upper = plane.scratch[0];
  let lower = plane.scratch[1];
  let upperRow = -1;
  let lowerRow = -1;
  for (let row = 0; row < rect.y1 - rect.y0; row++) {
    const near = y.near[row]!;
    const far = y.far[row]!;
    if (near !== upperRow) {
      if (near === lowerRow) {
        const swap = upper;
        upper = lower;
        lower = swap;
        upperRow = lowerRow;
        lowerRow = -1;
      } else {
        across(plane.x, src, srcOffset + near * srcStride, upper, width);
        upperRow = near;
      }
    }
    if (far !== lowerRow) {
      across(plane.x, src, srcOffset + far * srcStride, lower, width);
      lowerRow = far;
    }
    const down = y.weight[row]!;
    const up = 256 - down;
    let d = dstOffset + (rect.y0 + row) * dstStride + rect.x0;
    for (let i = 0; i < width; i++) dst[d++] = (upper[i]! * up + lower[i]! * down + 32768) >>> 16;
  }
}

/** One source row interpolated to the destination's width, in 1/256ths. */
function across(x: Axis, src: Uint8Array, offset: number, out: Uint16Array, width: number): void {
  const near = x.near;
  const far = x.far;
  const weight = x.weight;
  for (let i = 0; i < width; i++) {
    const right = weight[i]!;
    out[i] = src[offset + near[i]!]! * (256 - right) + src[offset + far[i]!]! * right;
  }
}
