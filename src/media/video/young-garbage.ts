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
