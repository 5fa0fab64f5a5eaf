// Frees the call's big per-frame buffers as soon as they are dead. A composed 720p picture is a
// 1.38 MB buffer and a 640x360 camera frame 345 KB, allocated 30 times a second each, but only
// their small handles live on V8's heap: with little else allocated, V8's young generation fills
// slowly, so the buffers are freed late, their bytes add up as external memory, and every 64 MB
// V8 starts a full (major) collection of the whole ~80 MB heap instead. Collecting the young
// generation every few frames frees them for the price of a scavenge: on a recording of one
// camera (bench, N = 1) the garbage collector took ~2.9 s of the main thread per 15 s before.
// It needs Node's --expose-gc (src/node-flags.ts); without it, nothing is done.

type GcFunction = (options: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

const gc = (globalThis as { gc?: GcFunction }).gc;

/** Whether the process was started with --expose-gc, so that `collectYoungGarbage` does something. */
export const youngGarbageCollectable = typeof gc === 'function';

/** Collects V8's young generation now (a scavenge, well under a millisecond with a small one). */
export function collectYoungGarbage(): void {
  gc?.({ type: 'minor', execution: 'sync' });
}

/**
 * Frees the memory behind `bytes` now, when they are the whole of their buffer: the buffer is
 * detached (`bytes` reads as empty afterwards), so its owner must be done with it. A camera frame
 * copied into its tile is: at 9 cameras rtc-node allocates ~90 MB/s of them, and left to the
 * collector they were counted as external memory until a scavenge. Recordings of 9 cameras then
 * fell, in 10 of 17 runs, into full collections every ~200 ms (V8's marking threads 2.5-7.4
 * CPU-s per 20 s instead of 0.3-1, the recording 2.6-3.2x the floor instead of ~2.1x); with each
 * frame freed here, none of 7 runs at 9 cameras did. A view into a larger buffer is left to the collector.
 */
export function freeNow(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && !buffer.detached) buffer.transfer(0);
}

