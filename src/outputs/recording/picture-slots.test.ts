import { describe, expect, it } from 'vitest';
import { PictureSlots } from './picture-slots.ts';

/** Pictures 0..n-1 go to the encode, `wanted(i)` deciding; then their packets come, keyframes where `key(i)`. */
function run(n: number, wanted: (i: number) => boolean, key: (i: number) => boolean, lostAtInput: (i: number) => boolean = () => false) {
  const slots = new PictureSlots();
  const written: Array<[frame: number, slot: number]> = [];
  for (let i = 0; i < n; i++) slots.picture(i, wanted(i));
  for (let i = 0; i < n; i++) {
    if (lostAtInput(i)) continue;
    const slot = slots.packet(i, key(i));
    if (slot !== undefined) written.push([i, slot]);
  }
  return { slots, written };
}

describe('PictureSlots', () => {
  it('writes every packet of a recording that started with the encode, each at its own slot', () => {
    const { slots, written } = run(10, () => true, (i) => i % 5 === 0);
    expect(written).toEqual([...Array(10).keys()].map((i) => [i, i]));
    expect(slots.slots).toBe(10);
    expect(slots.written).toBe(10);
  });

  it('joins a running encode at its next keyframe; the slots before it stay empty', () => {
    // Pictures 0-3 were encoded for a stream only; the recording wants 4 on, the next keyframe is 6.
    const { slots, written } = run(12, (i) => i >= 4, (i) => i % 6 === 0);
    expect(written[0]).toEqual([6, 2]);
    expect(written.map(([f]) => f)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(slots.waited).toBe(2);
    expect(slots.slots).toBe(8);
  });

  it('leaves a paused span out and goes on from the first keyframe after it, with no slot for the pause', () => {
    // Paused for pictures 3-5; keyframes at 0 and 8.
    const { slots, written } = run(12, (i) => i < 3 || i > 5, (i) => i % 8 === 0);
    expect(written).toEqual([
      [0, 0], [1, 1], [2, 2],
      [8, 5], [9, 6], [10, 7], [11, 8],
    ]);
    expect(slots.slots).toBe(9);
    expect(slots.waited).toBe(2); // pictures 6 and 7: after the pause, before the keyframe
  });

  it('counts pictures the encoder dropped at its input as lost, without waiting for a keyframe', () => {
    const { slots, written } = run(8, () => true, (i) => i === 0, (i) => i === 3);
    expect(written.map(([f]) => f)).toEqual([0, 1, 2, 4, 5, 6, 7]);
    expect(written.at(-1)).toEqual([7, 7]);
    expect(slots.lost).toBe(1);
  });

  it('waits for a keyframe after a resync (an encoder restart, a packet it could not write)', () => {
    const slots = new PictureSlots();
    for (let i = 0; i < 6; i++) slots.picture(i, true);
    expect(slots.packet(0, true)).toBe(0);
    slots.resync();
    expect(slots.packet(1, false)).toBeUndefined();
    expect(slots.packet(2, true)).toBe(2);
    // A packet whose picture is not known: nothing may follow it but a keyframe.
    expect(slots.packet(undefined, false)).toBeUndefined();
    expect(slots.packet(3, false)).toBeUndefined();
    slots.close();
    expect(slots.lost).toBe(2);
    expect(slots.pending).toBe(0);
  });
});
