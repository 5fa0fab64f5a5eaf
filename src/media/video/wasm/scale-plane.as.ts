// Bilinear scaling of one 8-bit plane for i420-scaler.ts, in AssemblyScript: built to WebAssembly
// with SIMD by `npm run build:wasm` into scale-plane.wasm beside it (committed; a unit test checks
// that it is what this source builds to).
//
// Taps per destination column: near (source column; near + 1 is the other tap) and weight (0..256
// for near + 1). Per destination row: the same for source rows. Two scratch rows of u16
// hold source rows interpolated across, reused while consecutive rows read the same source rows.
//
// Across with SIMD gathers (below) instead of a byte at a time: the scaling alone of 640x360
// cameras into the 1280x720 grid took 1.02 -> 0.55 ms per frame at 1 camera, 2.21 -> 0.91 at 9,
// 2.94 -> 1.45 at 16 (medians of 3). Not tried: blending two source rows first, then one pass
// across (one pass per row instead of ~1.5, but over the source's wider rows, and nothing reused
// while scaling up).

// Blocks of 8 destination columns whose taps lie within 32 source bytes from the block's first
// tap are gathered with SIMD: one or two 16-byte loads, then swizzles that place each column's two
// source bytes as u16 lanes (an index of 16 or more yields 0: 0xff for the high byte; with two
// loads, the second is swizzled with the indices less 16 and the two ORed). A block's record,
// built by i420-scaler.ts, is BLOCK bytes: indices of the near taps (16), of the far taps (16),
// the weights as u16 (16), the first tap's source column as i32, or -1 where the taps do not fit
// (downscaling by more than about 4), and the loads it needs as i32.
const BLOCK: usize = 64;

function acrossScalar(src: usize, xNear: usize, xWeight: usize, out: usize, from: i32, to: i32): void {
  for (let i = from; i < to; i++) {
    const n = load<i32>(xNear + (<usize>i << 2));
    const w = load<i32>(xWeight + (<usize>i << 2));
    const a = <i32>load<u8>(src + <usize>n);
    const b = <i32>load<u8>(src + <usize>n + 1);
    store<u16>(out + (<usize>i << 1), <u16>((a << 8) + (b - a) * w));
  }
}

// Stores (a << 8) + (b - a) * w per column; the value is within 0..65280, so 16-bit wrapping
// arithmetic gives it exactly.
function across(src: usize, xNear: usize, xWeight: usize, xBlocks: usize, out: usize, width: i32): void {
  let i = 0;
  for (let block = xBlocks; i + 8 <= width; i += 8, block += BLOCK) {
    const base = load<i32>(block + 48);
    if (base < 0) {
      acrossScalar(src, xNear, xWeight, out, i, i + 8);
      continue;
    }
    const bytes = v128.load(src + <usize>base);
    const nearIndex = v128.load(block);
    const farIndex = v128.load(block + 16);
    let a = i8x16.swizzle(bytes, nearIndex);
    let b = i8x16.swizzle(bytes, farIndex);
    if (load<i32>(block + 52) == 2) {
      const more = v128.load(src + <usize>base + 16);
      const sixteen = i8x16.splat(16);
      a = v128.or(a, i8x16.swizzle(more, i8x16.sub(nearIndex, sixteen)));
      b = v128.or(b, i8x16.swizzle(more, i8x16.sub(farIndex, sixteen)));
    }
    const value = i16x8.add(i16x8.shl(a, 8), i16x8.mul(i16x8.sub(b, a), v128.load(block + 32)));
    v128.store(out + (<usize>i << 1), value);
  }
  acrossScalar(src, xNear, xWeight, out, i, width);
}

// u * (256 - w) + l * w, which is (u << 8) + (l - u) * w: products of u16 lanes widened to i32
// by extmul, fewer operations than widening first.
function blendRows(upper: usize, lower: usize, weight: i32, dst: usize, width: i32): void {
  const wl = i16x8.splat(<i16>weight);
  const wu = i16x8.splat(<i16>(256 - weight));
  const half = i32x4.splat(32768);
  let i = 0;
  for (; i + 8 <= width; i += 8) {
    const u = v128.load(upper + (<usize>i << 1));
    const l = v128.load(lower + (<usize>i << 1));
    const lo = i32x4.shr_u(i32x4.add(i32x4.add(i32x4.extmul_low_i16x8_u(u, wu), i32x4.extmul_low_i16x8_u(l, wl)), half), 16);
    const hi = i32x4.shr_u(i32x4.add(i32x4.add(i32x4.extmul_high_i16x8_u(u, wu), i32x4.extmul_high_i16x8_u(l, wl)), half), 16);
    const words = i16x8.narrow_i32x4_u(lo, hi);
    const bytes = i8x16.narrow_i16x8_u(words, words);
    v128.store64_lane(dst + <usize>i, bytes, 0);
  }
  for (; i < width; i++) {
    const u = <i32>load<u16>(upper + (<usize>i << 1));
    const l = <i32>load<u16>(lower + (<usize>i << 1));
    store<u8>(dst + <usize>i, <u8>(((u << 8) + (l - u) * weight + 32768) >> 16));
  }
}

/** Scales a plane into `width` x `height` pixels at `dst` (rows `dstStride` apart). */
export function scalePlane(
  src: usize, srcStride: i32, dst: usize, dstStride: i32, width: i32, height: i32,
  xNear: usize, xWeight: usize, xBlocks: usize, yNear: usize, yWeight: usize, scratch: usize,
): void {
  let upper = scratch;
  let lower = scratch + (<usize>width << 1);
  let upperRow = -1;
  let lowerRow = -1;
  for (let row = 0; row < height; row++) {
    const near = load<i32>(yNear + (<usize>row << 2));
    const far = near + 1;
    if (near != upperRow) {
      if (near == lowerRow) {
        const swap = upper;
        upper = lower;
        lower = swap;
        upperRow = lowerRow;
        lowerRow = -1;
      } else {
        across(src + <usize>(near * srcStride), xNear, xWeight, xBlocks, upper, width);
        upperRow = near;
      }
    }
    if (far != lowerRow) {
      across(src + <usize>(far * srcStride), xNear, xWeight, xBlocks, lower, width);
      lowerRow = far;
    }
    blendRows(upper, lower, load<i32>(yWeight + (<usize>row << 2)), dst + <usize>(row * dstStride), width);
  }
}
