// Bilinear scaling of one 8-bit plane for i420-scaler.ts, in AssemblyScript: built to WebAssembly
// with SIMD by `npm run build:wasm` into scale-plane.wasm beside it (committed; a unit test checks
// that it is what this source builds to).
//
// Taps per destination column: near (source column; near + 1 is the other tap) and weight (0..256
// for near + 1). Per destination row: the same for source rows. Two scratch rows of u16
// hold source rows interpolated across, reused while consecutive rows read the same source rows.

function across(src: usize, xNear: usize, xWeight: usize, out: usize, width: i32): void {
  for (let i = 0; i < width; i++) {
    const n = load<i32>(xNear + (<usize>i << 2));
    const w = load<i32>(xWeight + (<usize>i << 2));
    const a = <i32>load<u8>(src + <usize>n);
    const b = <i32>load<u8>(src + <usize>n + 1);
    store<u16>(out + (<usize>i << 1), <u16>((a << 8) + (b - a) * w));
  }
}

function blendRows(upper: usize, lower: usize, weight: i32, dst: usize, width: i32): void {
  const w = i32x4.splat(weight);
  const half = i32x4.splat(32768);
  let i = 0;
  for (; i + 8 <= width; i += 8) {
    const u = v128.load(upper + (<usize>i << 1));
    const l = v128.load(lower + (<usize>i << 1));
    const uLo = i32x4.extend_low_i16x8_u(u);
    const uHi = i32x4.extend_high_i16x8_u(u);
    const lLo = i32x4.extend_low_i16x8_u(l);
    const lHi = i32x4.extend_high_i16x8_u(l);
    const lo = i32x4.shr_s(i32x4.add(i32x4.add(i32x4.shl(uLo, 8), i32x4.mul(i32x4.sub(lLo, uLo), w)), half), 16);
    const hi = i32x4.shr_s(i32x4.add(i32x4.add(i32x4.shl(uHi, 8), i32x4.mul(i32x4.sub(lHi, uHi), w)), half), 16);
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
  xNear: usize, xWeight: usize, yNear: usize, yWeight: usize, scratch: usize,
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
        across(src + <usize>(near * srcStride), xNear, xWeight, upper, width);
        upperRow = near;
      }
    }
    if (far != lowerRow) {
      across(src + <usize>(far * srcStride), xNear, xWeight, lower, width);
      lowerRow = far;
    }
    blendRows(upper, lower, load<i32>(yWeight + (<usize>row << 2)), dst + <usize>(row * dstStride), width);
  }
}
