import { describe, expect, it } from 'vitest';
import { Compositor, type SceneTile } from './compositor.ts';
import { cardColour } from './tile-painter.ts';
import type { I420 } from './i420.ts';
import { layoutTiles, type Rect } from './layout.ts';
import { solidYuv } from '../../../test/helpers/i420.ts';

const size = { width: 640, height: 360 };
const solid = solidYuv;
const at = (p: I420, x: number, y: number) => {
  const [cx, cy] = [Math.floor(x / 2), Math.floor(y / 2)];
  const q = (p.width * p.height) / 4;
  return { y: p.data[Math.floor(y) * p.width + Math.floor(x)]!, u: p.data[p.width * p.height + cy * (p.width / 2) + cx]!, v: p.data[p.width * p.height + q + cy * (p.width / 2) + cx]! };
};
/** Pixels of a rectangle brighter than `luma`. */
const bright = (p: I420, r: Rect, luma: number) => {
  let n = 0;
  for (let y = Math.ceil(r.y); y < r.y + r.height; y++) for (let x = Math.ceil(r.x); x < r.x + r.width; x++) if (p.data[y * p.width + x]! > luma) n++;
  return n;
};
const RED: [number, number, number] = [81, 90, 240];

describe('Compositor', () => {
  const placed = layoutTiles(['cam', 'card', 'gone'].map((id) => ({ id, screen: false })), size);
  const tile = (id: string, content: SceneTile['content'], speaking = false): SceneTile => ({ id, rect: placed.get(id)!, alpha: 1, name: id === 'card' ? 'Ada Lovelace' : id, colourKey: id, speaking, content });
  const scene = (speaking: string) => [tile('cam', { kind: 'video', picture: solid(320, 240, RED), fit: 'cover' }, speaking === 'cam'), tile('card', { kind: 'card' }, speaking === 'card'), tile('gone', { kind: 'hidden' })];

  it('draws a camera in its colour, a name card with white initials, and a grey "not recorded" tile', () => {
    const picture = new Compositor(size).compose({ paused: false, tiles: scene('') });
    const cam = placed.get('cam')!;
    const centre = at(picture, cam.x + cam.width / 2, cam.y + cam.height / 2);
    expect(Math.abs(centre.y - RED[0])).toBeLessThan(4);
    expect(Math.abs(centre.v - RED[2])).toBeLessThan(4);
    // The card: the disc's colour around the initials, and white text pixels in the middle.
    const card = placed.get('card')!;
    const disc = at(picture, card.x + card.width / 2, card.y + card.height / 2 - card.height * 0.17);
    expect(disc.y).toBeGreaterThan(40);
    expect(Math.abs(disc.u - 128) + Math.abs(disc.v - 128)).toBeGreaterThan(20);
    const middle = { x: card.x + card.width * 0.4, y: card.y + card.height * 0.4, width: card.width * 0.2, height: card.height * 0.2 };
    expect(bright(picture, middle, 200)).toBeGreaterThan(30);
    // The name label at the bottom left has white text too.
    expect(bright(picture, { x: card.x, y: card.y + card.height * 0.8, width: card.width / 2, height: card.height * 0.2 }, 200)).toBeGreaterThan(20);
    const gone = placed.get('gone')!;
    expect(at(picture, gone.x + 10, gone.y + 10).y).toBe(40);
    expect(bright(picture, gone, 120)).toBeGreaterThan(10); // "not recorded"
    expect(cardColour('card')).toMatch(/^#[0-9a-f]{6}$/);
  });

  it('draws a green border around the speaker only', () => {
    const compositor = new Compositor(size);
    const border = (p: I420, id: string) => at(p, placed.get(id)!.x + placed.get(id)!.width / 2, placed.get(id)!.y + 1);
    const camSpeaks = compositor.compose({ paused: false, tiles: scene('cam') });
    expect(border(camSpeaks, 'cam').v).toBeLessThan(90);
    expect(border(camSpeaks, 'card').v).toBeGreaterThan(110);
    const cardSpeaks = compositor.compose({ paused: false, tiles: scene('card') });
    expect(border(cardSpeaks, 'card').v).toBeLessThan(90);
    expect(border(cardSpeaks, 'cam').v).toBeGreaterThan(200);
  });

  it('shows nothing of the call while paused', () => {
    const picture = new Compositor(size).compose({ paused: true, tiles: scene('cam') });
    expect(bright(picture, { x: 0, y: 0, width: size.width, height: size.height }, 40)).toBe(0);
  });

  it('shows each new frame while tiles move, though the tile reuses its buffer for it', () => {
    const compositor = new Compositor(size);
    // Fading in: Skia draws the picture whole each frame.
    const fading = (picture: I420) => [{ ...tile('cam', { kind: 'video', picture, fit: 'cover' }), alpha: 0.99 }];
    const buffer = solid(320, 240, RED);
    const cam = placed.get('cam')!;
    const centre = (p: I420) => at(p, cam.x + cam.width / 2, cam.y + cam.height / 2);
    expect(Math.abs(centre(compositor.compose({ paused: false, tiles: fading(buffer) })).v - RED[2])).toBeLessThan(6);
    // The next frame, copied into the same buffer and handed on as a new picture (CallVideo's #keep).
    buffer.data.set(solid(320, 240, [41, 240, 110]).data);
    expect(Math.abs(centre(compositor.compose({ paused: false, tiles: fading({ ...buffer }) })).u - 240)).toBeLessThan(6);
  });

  it('draws a layout that stands still from its decorations, as Skia draws it whole', () => {
    const compositor = new Compositor(size);
    const tiles = scene('cam');
    const whole = compositor.compose({ paused: false, tiles });
    // Copied: the next frame is composed into the same buffer.
    const composed = compositor.compose({ paused: false, tiles });
    const still = { ...composed, data: composed.data.slice() };
    let differ = 0;
    let sum = 0;
    for (let i = 0; i < whole.data.length; i++) {
      const d = Math.abs(whole.data[i]! - still.data[i]!);
      sum += d;
      if (d > 24) differ++;
    }
    // Both paths put the same pixels everywhere but a seam of antialiasing at the picture's edges.
    expect(sum / whole.data.length).toBeLessThan(0.5);
    expect(differ).toBeLessThan(whole.data.length / 500);
    // A new frame of the camera comes through, while the label over it stays.
    const blue = compositor.compose({ paused: false, tiles: tiles.map((t) => (t.id === 'cam' ? { ...t, content: { kind: 'video' as const, picture: solid(320, 240, [41, 240, 110]), fit: 'cover' as const } } : t)) });
    expect(blue.data).toBe(composed.data);
    const cam = placed.get('cam')!;
    expect(at(blue, cam.x + cam.width / 2, cam.y + cam.height / 2)).toEqual({ y: 41, u: 240, v: 110 });
    const label = { x: cam.x, y: cam.y + cam.height * 0.8, width: cam.width / 2, height: cam.height * 0.2 };
    // (The text's antialiased edges blend with what is under them, so a few more or fewer pass.)
    expect(Math.abs(bright(blue, label, 200) - bright(still, label, 200))).toBeLessThan(bright(still, label, 200) * 0.2);
    expect(bright(blue, label, 200)).toBeGreaterThan(20);
  });
});
