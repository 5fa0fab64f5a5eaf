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

  it('with copy: the caller may reuse its buffer at once; each copy is freed once taken, and counted out of the bound at its length', async () => {
    const { ffmpeg, given, settle } = handPipe();
    const writer = new BoundedWriter({ ffmpeg, maxPendingBytes: 8, log, copy: true });
    const picture = new Uint8Array(4).fill(1);
    writer.write(picture);
    picture.fill(2); // the next frame, composed into the same buffer
    writer.write(picture);
    expect(writer.pendingBytes).toBe(8);
    for (const write of [0, 1]) {
      await settle();
      given[write]!.take();
    }
    await writer.drained();
    expect(given.map((g) => g.content)).toEqual([[1, 1, 1, 1], [2, 2, 2, 2]]);
    expect(given.map((g) => g.bytes.byteLength)).toEqual([0, 0]);
    expect(picture.byteLength).toBe(4);
    expect(writer.pendingBytes).toBe(0);
    expect(writer.write(picture)).toBe(true);
  });
});
