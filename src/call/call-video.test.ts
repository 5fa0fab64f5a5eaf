import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CallVideo } from './call-video.ts';
import type { I420 } from '../media/video/i420.ts';
import { layoutTiles } from '../media/video/layout.ts';
import { solidYuv } from '../../test/helpers/i420.ts';

const format = { width: 640, height: 360, fps: 10 };
const solid = solidYuv;
const lumaAt = (p: I420, x: number, y: number) => p.data[Math.round(y) * p.width + Math.round(x)]!;
const vAt = (p: I420, x: number, y: number) => p.data[p.width * p.height * 1.25 + Math.floor(y / 2) * (p.width / 2) + Math.floor(x / 2)]!;
const RED: [number, number, number] = [81, 90, 240];
const BLUE: [number, number, number] = [41, 240, 110];

/** A track whose frames the test pushes, and ends. */
function track() {
  const queue: I420[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const frames: AsyncIterable<I420> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  return { frames, push: (f: I420) => (queue.push(f), wake?.()), end: () => ((ended = true), wake?.()) };
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('CallVideo', () => {
  it('shows a camera in its tile, a screen share as a tile of its own on the stage, and a name card again when the camera ends', async () => {
    let now = 0;
    let paused = false;
    const video = new CallVideo({ format, log: pino({ level: 'silent' }), now: () => now, transitionMs: 0, paused: () => paused, name: (key) => `Name of ${key}` });
    video.setMembers(['alice', 'bob']);
    const camera = track();
    const screen = track();
    video.addTrack('alice', camera.frames, 'camera');
    camera.push(solid(320, 240, RED));
    await settle();
    const grid = layoutTiles([{ id: 'alice', screen: false }, { id: 'bob', screen: false }], format);
    const centre = (r: { x: number; y: number; width: number; height: number }) => [r.x + r.width / 2, r.y + r.height / 4] as const;
    let picture = video.canvas();
    expect(vAt(picture, ...centre(grid.get('alice')!))).toBeGreaterThan(230);

    video.addTrack('alice', screen.frames, 'screen');
    screen.push(solid(640, 480, BLUE));
    await settle();
    now += 100;
    picture = video.canvas();
    const shared = layoutTiles([{ id: 'alice', screen: false }, { id: 'alice-screen', screen: true }, { id: 'bob', screen: false }], format);
    expect(lumaAt(picture, ...centre(shared.get('alice-screen')!))).toBeLessThan(50);
    expect(vAt(picture, ...centre(shared.get('alice-screen')!))).toBeLessThan(120);
    expect(vAt(picture, ...centre(shared.get('alice')!))).toBeGreaterThan(220);

    // The screen share ends: back to the grid; the camera ends: alice's tile is a card (no red, not black).
    screen.end();
    camera.end();
    await settle();
    now += 100;
    picture = video.canvas();
    const [x, y] = centre(grid.get('alice')!);
    expect(vAt(picture, x, y)).toBeLessThan(140);
    expect(lumaAt(picture, x, y)).toBeGreaterThan(20);

    // Paused: nothing of the call, the background alone (one shade of dark).
    paused = true;
    video.invalidate();
    picture = video.canvas();
    const luma = picture.data.subarray(0, format.width * format.height);
    expect([luma.reduce((a, b) => Math.min(a, b), 255), luma.reduce((a, b) => Math.max(a, b), 0)]).toEqual([32, 32]);
  });

  it('highlights the speaker and composes only when something changed', () => {
    let now = 0;
    const video = new CallVideo({ format, log: pino({ level: 'silent' }), now: () => now, transitionMs: 0 });
    video.setMembers(['alice', 'bob']);
    const first = video.canvas();
    now += 100;
    expect(video.canvas()).toBe(first);
    video.setSpeaking('bob');
    const highlighted = video.canvas();
    expect(highlighted).not.toBe(first);
    const bob = layoutTiles([{ id: 'alice', screen: false }, { id: 'bob', screen: false }], format).get('bob')!;
    expect(vAt(highlighted, bob.x + bob.width / 2, bob.y + 1)).toBeLessThan(90);
  });

  it('frees each camera frame once it is copied into its tile, and still shows it', async () => {
    const video = new CallVideo({ format, log: pino({ level: 'silent' }), transitionMs: 0 });
    video.setMembers(['alice']);
    const camera = track();
    video.addTrack('alice', camera.frames, 'camera');
    const frame = solid(320, 240, RED);
    camera.push(frame);
    await settle();
    expect(frame.data.byteLength).toBe(0);
    const tile = layoutTiles([{ id: 'alice', screen: false }], format).get('alice')!;
    expect(vAt(video.canvas(), tile.x + tile.width / 2, tile.y + tile.height / 4)).toBeGreaterThan(230);
    // A view into a larger buffer is not the frame's own to free.
    const shared = new Uint8Array(frame.width * frame.height * 2);
    const view = { width: 320, height: 240, data: shared.subarray(0, (320 * 240 * 3) / 2) };
    view.data.set(solid(320, 240, BLUE).data);
    camera.push(view);
    await settle();
    expect(shared.byteLength).toBe(320 * 240 * 2);
    expect(vAt(video.canvas(), tile.x + tile.width / 2, tile.y + tile.height / 4)).toBeLessThan(120);
  });
});
