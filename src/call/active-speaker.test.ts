import { describe, expect, it } from 'vitest';
import { ActiveSpeaker, rms } from './active-speaker.ts';

/** Feeds `ms` of 20 ms chunks with these levels; returns who was active after each chunk. */
function feed(speaker: ActiveSpeaker, from: number, ms: number, levels: Record<string, number>): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  for (let t = from; t < from + ms; t += 20) out.push(speaker.push(Object.entries(levels).map(([key, level]) => ({ key, rms: level })), t));
  return out;
}

describe('rms', () => {
  it('is the root mean square of the samples', () => {
    expect(rms(new Int16Array([3, -3, 3, -3]))).toBe(3);
    expect(rms(new Int16Array(0))).toBe(0);
  });
});

describe('ActiveSpeaker', () => {
  it('lights up whoever speaks after a moment, and nobody in silence', () => {
    const speaker = new ActiveSpeaker({ switchAfterMs: 100, holdMs: 500 });
    expect(feed(speaker, 0, 200, { a: 0, b: 0 }).at(-1)).toBeUndefined();
    const talking = feed(speaker, 200, 400, { a: 3000, b: 0 });
    expect(talking[0]).toBeUndefined();
    expect(talking.at(-1)).toBe('a');
  });

  it('moves to the louder speaker only after they stay the loudest, so a cough does not steal it', () => {
    const speaker = new ActiveSpeaker({ switchAfterMs: 300, holdMs: 1000 });
    feed(speaker, 0, 600, { a: 3000, b: 0 });
    // b coughs for 60 ms while a goes on.
    expect(feed(speaker, 600, 60, { a: 3000, b: 9000 }).every((s) => s === 'a')).toBe(true);
    expect(feed(speaker, 660, 400, { a: 3000, b: 0 }).every((s) => s === 'a')).toBe(true);
    // b speaks and a stops: the highlight moves.
    expect(feed(speaker, 1060, 1000, { a: 0, b: 3000 }).at(-1)).toBe('b');
  });

  it('keeps the highlight through a short pause, and lets it go after the hold', () => {
    const speaker = new ActiveSpeaker({ switchAfterMs: 100, holdMs: 500 });
    feed(speaker, 0, 400, { a: 3000 });
    expect(feed(speaker, 400, 300, { a: 0 }).every((s) => s === 'a')).toBe(true);
    expect(feed(speaker, 700, 600, { a: 0 }).at(-1)).toBeUndefined();
  });

  it('ignores levels below the floor (room noise)', () => {
    const speaker = new ActiveSpeaker({ floorRms: 300, switchAfterMs: 100 });
    expect(feed(speaker, 0, 1000, { a: 200 }).every((s) => s === undefined)).toBe(true);
  });
});
