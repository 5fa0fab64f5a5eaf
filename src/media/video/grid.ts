// The near-square grid the call's picture had before layout.ts (tiles edge to edge, no names).
// Only the benchmark's floor (bench/floor.ts) still places its ffmpeg-composed tiles with it;
// the recorder lays its picture out with layout.ts and draws it with compositor.ts.
import type { Size } from './i420.ts';

export interface Tile {
  x: number;
  y: number;
  width: number;
  height: number;
}

const even = (n: number) => n & ~1;

/** Tiles for `count` members: columns = ceil(sqrt(count)), rows as needed; even-aligned for chroma. */
export function gridLayout(count: number, canvas: Size): Tile[] {
  if (count <= 0) return [];
  const columns = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / columns);
  const width = even(Math.floor(canvas.width / columns));
  const height = even(Math.floor(canvas.height / rows));
  return Array.from({ length: count }, (_, i) => ({ x: (i % columns) * width, y: Math.floor(i / columns) * height, width, height }));
}
