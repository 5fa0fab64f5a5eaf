// Micro-benchmark of the call's picture (issue 14): the CPU one composed frame costs (8 cameras
// of 640x360 into 1280x720 by default, each with a new frame every time, the worst case), and
// per minute at the frame rate. Usage: bash scripts/node.sh scripts/video-compose-bench.ts [cameras] [frames] [--still]
// The active speaker changes every frame, so with 2 cameras or more each frame is drawn whole by
// Skia; --still keeps the first camera speaking, so the layout stands still (as it nearly always
// does in a call) and the frames are put together in I420 by the WebAssembly scaler.
import { Compositor, type SceneTile } from '../src/media/video/compositor.ts';
import type { I420 } from '../src/media/video/i420.ts';
import { layoutTiles } from '../src/media/video/layout.ts';

const still = process.argv.includes('--still');
const [camerasArg, framesArg] = process.argv.slice(2).filter((a) => a !== '--still');
const cameras = Number(camerasArg ?? 8);
const frames = Number(framesArg ?? 300);
const size = { width: 1280, height: 720 };
const fps = 30;

function camera(i: number): I420 {
  const data = new Uint8Array(640 * 360 * 1.5);
  data.fill(60 + i * 20, 0, 640 * 360);
  data.fill(90 + i * 10, 640 * 360);
  return { width: 640, height: 360, data };
}
const pictures = Array.from({ length: cameras }, (_, i) => camera(i));
const ids = pictures.map((_, i) => `@user${i}:example.org_DEVICE`);
const rects = layoutTiles(ids.map((id) => ({ id, screen: false })), size);
const compositor = new Compositor(size);
const scene = (n: number): SceneTile[] =>
  ids.map((id, i) => ({
    id, rect: rects.get(id)!, alpha: 1, name: `Member number ${i}`, colourKey: id, speaking: i === (still ? 0 : n % cameras),
    // A new frame object every time, as a camera at the output's rate delivers.
    content: { kind: 'video', picture: { ...pictures[i]!, data: pictures[i]!.data.slice() }, fit: 'cover' },
  }));

// Between frames the event loop runs, as between the recorder's clock ticks: native buffers are
// freed by finalizers that run there, so a tight loop would measure a heap that never shrinks.
const tick = () => new Promise((resolve) => setImmediate(resolve));
for (let n = 0; n < 20; n++) {
  compositor.compose({ paused: false, tiles: scene(n) }); // warm-up
  await tick();
}
const copies = frames * cameras * 640 * 360 * 1.5;
const cpu = process.cpuUsage();
const started = performance.now();
for (let n = 0; n < frames; n++) {
  compositor.compose({ paused: false, tiles: scene(n) });
  await tick();
}
const used = process.cpuUsage(cpu);
const wallMs = performance.now() - started;
const cpuMs = (used.user + used.system) / 1000;
console.log(`frames drawn whole ${compositor.drawn.whole}, from a still layout ${compositor.drawn.still}; user ${(used.user / 1000 / frames).toFixed(2)} ms, system ${(used.system / 1000 / frames).toFixed(2)} ms per frame`);
console.log(
  `${cameras} cameras 640x360${still ? ' (still layout)' : ''} -> ${size.width}x${size.height}: ${(cpuMs / frames).toFixed(2)} ms CPU per composed frame ` +
    `(${(wallMs / frames).toFixed(2)} ms wall; includes ${((copies / frames / 1e6)).toFixed(1)} MB of frame copies the bench makes), ` +
    `${((cpuMs / frames) * fps * 60 / 1000).toFixed(1)} CPU-s per minute at ${fps} fps; RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
);
process.exit(0);
