import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BoundedWriter } from './bounded-writer.ts';
import type { FfmpegProcess } from './process.ts';

const log = pino({ level: 'silent' });

/** An ffmpeg whose pipe takes each chunk when the test says so, recording what it was given. */
function handPipe() {
  const given: Array<{ bytes: Uint8Array; content: number[]; take: () => void }> = [];
  const ffmpeg = {
    write: (bytes: Uint8Array, _input?: number, taken?: () => void) =>
      new Promise<void>((resolve) => {
        given.push({ bytes, content: [...bytes], take: () => (taken?.(), resolve()) });
      }),
    finish: async () => undefined,
    exited: new Promise<void>(() => undefined),
  } as FfmpegProcess;
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { ffmpeg, given, settle };
}

describe('BoundedWriter', () => {
  it('drops what goes beyond its bound, and takes again once ffmpeg has caught up', async () => {
    const { ffmpeg, given, settle } = handPipe();
    const writer = new BoundedWriter({ ffmpeg, maxPendingBytes: 8, log });
    expect([writer.write(new Uint8Array(4)), writer.write(new Uint8Array(4)), writer.write(new Uint8Array(4))]).toEqual([true, true, false]);
    expect(writer.dropped).toBe(1);
    await settle();
    given[0]!.take();
    await settle();
    given[1]!.take();
    await settle();
    expect(writer.pendingBytes).toBe(0);
    expect(writer.fits(8)).toBe(true);
  });

  it('with copy: the caller may reuse its buffer at once; a copy the pipe has taken serves again (two are kept, the rest freed), counted out of the bound at its length', async () => {
    const { ffmpeg, given, settle } = handPipe();
    const writer = new BoundedWriter({ ffmpeg, maxPendingBytes: 12, log, copy: true });
    const picture = new Uint8Array(4);
    for (const value of [1, 2, 3]) {
      writer.write(picture.fill(value));
      picture.fill(9); // the next frame, composed into the same buffer
    }
    expect(writer.pendingBytes).toBe(12);
    for (const write of [0, 1, 2]) {
      await settle();
      given[write]!.take();
    }
    await writer.drained();
    expect(given.map((g) => g.content)).toEqual([[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]]);
    expect(given.map((g) => g.bytes.byteLength)).toEqual([4, 4, 0]); // the third was freed
    expect(writer.pendingBytes).toBe(0);
    expect(writer.write(picture.fill(4))).toBe(true);
    await settle();
    expect(given[3]!.bytes).toBe(given[0]!.bytes);
    expect(given[3]!.content).toEqual([4, 4, 4, 4]);
  });

  it('allows the start bound until ffmpeg has taken what queued while it started, then holds the usual one', async () => {
    const { ffmpeg, given, settle } = handPipe();
    const writer = new BoundedWriter({ ffmpeg, maxPendingBytes: 8, startMaxPendingBytes: 16, log });
    // ffmpeg starting: nothing taken yet, four chunks of 4 wait, the fifth is refused.
    expect([1, 2, 3, 4, 5].map(() => writer.write(new Uint8Array(4)))).toEqual([true, true, true, true, false]);
    await settle();
    given[0]!.take(); // 12 still waiting: over the usual bound, so the start's goes on
    await settle();
    expect(writer.fits(4)).toBe(true);
    given[1]!.take(); // 8 waiting: caught up
    await settle();
    expect(writer.fits(4)).toBe(false);
    expect(writer.write(new Uint8Array(4))).toBe(false);
  });
});
