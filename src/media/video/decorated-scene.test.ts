import { describe, expect, it } from 'vitest';
import type { Scene, SceneTile } from './compositor.ts';
import { DecoratedScene, DecorationCanvas } from './decorated-scene.ts';
import { registerFonts } from './fonts.ts';
import { i420Bytes, type I420 } from './i420.ts';
import { layoutTiles, type Rect } from './layout.ts';

const size = { width: 640, height: 360 };
const font = registerFonts();
const placed = layoutTiles(['a', 'b', 'card', 'screen'].map((id) => ({ id, screen: id === 'screen' })), size);

/** A picture of bytes from a seed: a pixel blended twice, or taken from the wrong frame, shows. */
function noise(width: number, height: number, seed: number): I420 {
  const data = new Uint8Array(i420Bytes({ width, height }));
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return { width, height, data };
}

/** The tiles with a camera (or, where `cards` says, a name card) in 'a' and 'b' and a screen share; 'a' speaks. */
function scene(seed: number, cards: string[] = []): Scene {
  const tile = (id: string, content: SceneTile['content']): SceneTile => ({ id, rect: placed.get(id)!, alpha: 1, name: `Member ${id}`, colourKey: id, speaking: id === 'a', content: cards.includes(id) ? { kind: 'card' } : content });
  return {
    paused: false,
    tiles: [
      tile('a', { kind: 'video', picture: noise(320, 240, seed), fit: 'cover' }),
      tile('b', { kind: 'video', picture: noise(320, 240, seed + 1), fit: 'cover' }),
      tile('card', { kind: 'card' }),
      tile('screen', { kind: 'video', picture: noise(640, 360, seed + 2), fit: 'contain' }),
    ],
  };
}

/**
 * `frame` composed from scratch: the layout of `scene(0)` drawn anew and composed once, which
 * copies the whole layer, scales every picture into it and blends the layer back over them (as
 * every frame was put together before the layer was kept in the scalers' memory).
 */
function fromScratch(frame: Scene): Uint8Array {
  return DecoratedScene.draw(scene(0), new DecorationCanvas(size, font)).compose(frame).data.slice();
}

/** Where two pictures first differ (-1: nowhere); vitest's toEqual walks 345 KB too slowly. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  return a.findIndex((v, i) => v !== b[i]);
}

/** The bytes of a rectangle of the luma plane, or with `chroma` also those of the U and V pixels it touches. */
function bytesOf(p: Uint8Array, r: Rect, chroma = false): number[] {
  const out: number[] = [];
  for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) out.push(p[y * size.width + x]!);
  if (!chroma) return out;
  const quarter = (size.width * size.height) / 4;
  for (const plane of [size.width * size.height, size.width * size.height + quarter]) {
    for (let y = r.y >> 1; y < (r.y + r.height + 1) >> 1; y++) for (let x = r.x >> 1; x < (r.x + r.width + 1) >> 1; x++) out.push(p[plane + y * (size.width / 2) + x]!);
  }
  return out;
}

describe('DecoratedScene', () => {
  it('puts every frame together as a frame composed from scratch, into the scalers\' memory itself', () => {
    const target = new DecorationCanvas(size, font);
    const still = DecoratedScene.draw(scene(0), target);
    const frames = [scene(10), scene(20), scene(30, ['b']), scene(40, ['a', 'screen']), scene(50), scene(50)];
    let first: Uint8Array | undefined;
    for (const frame of frames) {
      const picture = still.compose(frame);
      // One view handed out frame after frame, lying in the memory the scalers write.
      first ??= picture.data;
      expect(picture.data).toBe(first);
      expect(picture.data.buffer).toBe(target.memory.bytes().buffer);
      expect(firstDifference(picture.data, fromScratch(frame))).toBe(-1);
    }
  });

  it('shows the layer again, decorations and all, in a hole that gets no picture on a later frame', () => {
    const still = DecoratedScene.draw(scene(0), new DecorationCanvas(size, font));
    const withCamera = still.compose(scene(10)).data.slice();
    const withoutCamera = still.compose(scene(20, ['b'])).data.slice();
    // The layer alone: the same layout with no picture drawn into it.
    const layer = fromScratch(scene(0, ['a', 'b', 'screen']));
    const b = placed.get('b')!;
    const hole = { x: Math.ceil(b.x), y: Math.ceil(b.y), width: Math.floor(b.width), height: Math.floor(b.height) };
    expect(bytesOf(withCamera, hole, true)).not.toEqual(bytesOf(layer, hole, true));
    expect(bytesOf(withoutCamera, hole, true)).toEqual(bytesOf(layer, hole, true));
    // The name label at the bottom left of the tile is back as it was drawn: white text.
    const label = { x: hole.x, y: Math.ceil(b.y + b.height * 0.8), width: Math.floor(b.width / 2), height: Math.floor(b.height * 0.2) - 1 };
    expect(bytesOf(withoutCamera, label).filter((v) => v > 200).length).toBeGreaterThan(20);
    // And the other tiles have their new pictures.
    expect(firstDifference(withoutCamera, fromScratch(scene(20, ['b'])))).toBe(-1);
  });

  it('composes the same tiles twice to the same pixels: the layer is blended over a picture once', () => {
    const still = DecoratedScene.draw(scene(0), new DecorationCanvas(size, font));
    const frame = scene(10);
    const once = still.compose(frame).data.slice();
    // The same pictures again, as objects (their pixels are not copied in again) and as new ones.
    expect(firstDifference(still.compose(frame).data, once)).toBe(-1);
    expect(firstDifference(still.compose(scene(10)).data, once)).toBe(-1);
  });

  it('refuses to compose a layout once a newer one was drawn into the same memory', () => {
    const target = new DecorationCanvas(size, font);
    const older = DecoratedScene.draw(scene(0), target);
    older.compose(scene(10));
    DecoratedScene.draw(scene(0, ['b']), target).compose(scene(20, ['b']));
    expect(() => older.compose(scene(30))).toThrow(/newer one was drawn/);
  });
});
