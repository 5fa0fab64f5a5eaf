import { describe, expect, it } from 'vitest';
import { tapFrames } from './frame-tap.ts';

describe('tapFrames', () => {
  it('lets frames go until someone listens, then hands on every frame in order', async () => {
    let push!: (f: Int16Array | undefined) => void;
    const source = (async function* () {
      for (;;) {
        const f = await new Promise<Int16Array | undefined>((resolve) => (push = resolve));
        if (!f) return;
        yield f;
      }
    })();
    const tap = tapFrames(source);
    const tick = () => new Promise((r) => setTimeout(r, 5));
    await tick();
    for (const v of [1, 2]) {
      push(Int16Array.of(v));
      await tick();
    }
    const got: number[] = [];
    const reading = (async () => {
      for await (const f of tap.frames) got.push(f[0]!);
    })();
    await tick();
    for (const v of [3, 4]) {
      push(Int16Array.of(v));
      await tick();
    }
    push(undefined);
    await reading;
    expect(tap.discarded()).toBe(2);
    expect(got).toEqual([3, 4]);
  });
});
