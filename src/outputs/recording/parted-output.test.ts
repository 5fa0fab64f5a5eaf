import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MAX_PARTS, PartedOutput, type FilePart, type PartEvent } from './parted-output.ts';

/** A file part whose encoder the test kills; it keeps what was written to it. */
function fakePart(path: string) {
  let die!: (err: Error) => void;
  const exited = new Promise<void>((_resolve, reject) => (die = reject));
  exited.catch(() => undefined);
  const part = {
    path,
    chunks: 0,
    dead: false,
    write() {
      if (!part.dead) part.chunks++;
    },
    async finish() {
      return { path, durationMs: part.chunks * 20, ...(part.dead ? { error: `ffmpeg exited with SIGKILL: ${path}` } : {}) };
    },
    exited,
    kill() {
      part.dead = true;
      die(new Error(`ffmpeg exited with SIGKILL: could not write ${path}`));
    },
  };
  return part;
}

describe('PartedOutput', () => {
  it('goes on in a new part when the encoder dies, placed at its offset, and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-parted-'));
    const parts: Array<ReturnType<typeof fakePart>> = [];
    const events: PartEvent[] = [];
    const output = new PartedOutput({
      path: join(dir, 'mixed.ogg'),
      startChunks: 10,
      start: (path) => {
        const part = fakePart(path);
        parts.push(part);
        return part satisfies FilePart;
      },
      onEvent: (e) => events.push(e),
      log: pino({ level: 'silent' }),
    });
    for (let i = 0; i < 50; i++) output.write(new Int16Array(960));
    parts[0]!.kill();
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 30; i++) output.write(new Int16Array(960));
    const result = await output.finish();

    expect(events).toEqual([{ type: 'continued', file: 'mixed.ogg', part: 'mixed-part2.ogg', offsetMs: 60 * 20, reason: expect.stringContaining('SIGKILL') }]);
    // The dead part is measured from its pages (none here: not an Ogg file), and its exit is not an error: the file went on.
    expect(result).toMatchObject({ path: join(dir, 'mixed.ogg'), durationMs: 0 });
    expect(result.error).toBeUndefined();
    expect(result.parts).toEqual([{ path: join(dir, 'mixed-part2.ogg'), durationMs: 30 * 20, offsetMs: 60 * 20 }]);
  });

  it(`gives a file up after ${MAX_PARTS} encoders died, and the room's error names no folder`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-parted-'));
    const parts: Array<ReturnType<typeof fakePart>> = [];
    const events: PartEvent[] = [];
    const output = new PartedOutput({
      path: join(dir, 'stem-01-a.ogg'),
      start: (path) => {
        const part = fakePart(path);
        parts.push(part);
        return part;
      },
      onEvent: (e) => events.push(e),
      log: pino({ level: 'silent' }),
    });
    for (let n = 0; n < MAX_PARTS; n++) {
      output.write(new Int16Array(960));
      parts.at(-1)!.kill();
      await new Promise((r) => setImmediate(r));
    }
    expect(events.map((e) => e.type)).toEqual([...Array(MAX_PARTS - 1).fill('continued'), 'gave-up']);
    const result = await output.finish();
    expect(result.parts).toHaveLength(MAX_PARTS - 1);
    expect(result.parts!.at(-1)!.error).toMatch(/^its encoder stopped 4 times/);
    expect(JSON.stringify(result)).not.toContain(`${dir}/stem-01-a.ogg:`);
  });
});
