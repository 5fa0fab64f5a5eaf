// Node options and environment the recorder process is started with (the Docker image, `npm
// start`, the tests' and the benchmark's recorder processes). They can only be given at start: V8
// sizes its heap when the process starts and ignores these flags set later
// (v8.setFlagsFromString), and glibc reads its malloc settings once.
//
// --max-semi-space-size (MiB): V8's young generation grew to ~80 MiB in the recorder by default,
// sized for throughput. The recorder allocates little that lives long (a 20 ms chunk per track at a
// time), so a small one serves it as well: at N = 8 audio (bench --quick, alternating runs) the
// recorder held 265-276 MiB at the end of a recording instead of 392-404 MiB (peak with its
// ffmpeg 318-331 instead of 444-457 MiB), and V8's garbage collection threads took 0.17-0.18
// CPU-s per 20 s instead of 0.27-0.30. 1, 2, 4 and 8 MiB did about as well (peak 315-327 MiB);
// 4 leaves room for video's larger allocations.
//
// --expose-gc: the call's picture asks V8 to collect its young generation every few frames, so its
// big frame buffers are freed by a scavenge instead of by full collections (young-garbage.ts).
export const RECORDER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--expose-gc'];

// MALLOC_ARENA_MAX: glibc gives threads their own malloc arenas, up to 8 per core, and rtc-node
// runs dozens of threads (WebRTC's, tokio's), each arena keeping freed memory of its own. Two
// arenas: at N = 8 audio (bench --quick, 3 runs each, alternating) the recorder held 242-259 MiB
// at the end instead of 275-306 MiB (peak with its ffmpeg 295-333 instead of 340-358), its own
// CPU 1.29-1.51 against 1.31-1.42 CPU-s per participant-minute (within the noise).
export const RECORDER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
