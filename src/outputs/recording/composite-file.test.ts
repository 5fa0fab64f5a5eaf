// CompositeFile with a real ffmpeg that starts late, as it does on a busy machine: the pictures
// handed to it meanwhile overflow its bound. Each picture of the file is read back by its
// brightness (picture i is a flat grey of its own), so the test sees which picture fills each slot.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { CallVideo, VideoSubscriber } from '../../call/call-video.ts';
import type { I420 } from '../../media/video/i420.ts';
import { CompositeFile } from './composite-file.ts';

const format = { width: 64, height: 64, fps: 10 };
const grey = (i: number): I420 => {
  const data = new Uint8Array((format.width * format.height * 3) / 2).fill(128);
  data.fill(16 + 2 * i, 0, format.width * format.height);
  return { ...format, data };
};

/** Enough of CallVideo for CompositeFile: its pictures are handed over by the test, in one buffer drawn over each time as the call's is. */
function handVideo() {
  let subscriber: VideoSubscriber | undefined;
  const canvas = grey(0);
  const video = {
    format,
    subscribe: (s: VideoSubscriber) => ((subscriber = s), () => (subscriber = undefined)),
    canvas: () => canvas,
  } as unknown as CallVideo;
  return {
    video,
    show: (picture: I420) => {
      canvas.data.set(picture.data);
      subscriber!(canvas);
    },
  };
}

/** Which picture fills each slot of the file, by brightness. */
function picturesIn(path: string): number[] {
  const side = 8;
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-map', '0:v', '-fps_mode', 'passthrough', '-vf', `scale=${side}:${side}`, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], { maxBuffer: 1 << 24 });
  const shown: number[] = [];
  for (let at = 0; at + side * side * 1.5 <= raw.length; at += side * side * 1.5) {
    const mean = raw.subarray(at, at + side * side).reduce((sum, v) => sum + v, 0) / (side * side);
    shown.push(Math.round((mean - 16) / 2) || 0); // not -0
  }
  return shown;
}

describe('CompositeFile', () => {
  it('fills the slots of pictures ffmpeg could not take with the picture before, so later pictures keep their time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-composite-'));
    const lateFfmpeg = join(dir, 'late-ffmpeg.sh');
    writeFileSync(lateFfmpeg, '#!/bin/sh\nsleep 1.5\nexec ffmpeg "$@"\n');
    chmodSync(lateFfmpeg, 0o755);
    const { video, show } = handVideo();
    const file = new CompositeFile({ dir, ffmpegPath: lateFfmpeg, video, log: pino({ level: 'silent' }) });
    file.start();
    // Four seconds of pictures while ffmpeg is not there yet: its bound while it starts (two seconds) fills.
    for (let i = 0; i < 40; i++) show(grey(i));
    for (let i = 0; i < 200; i++) file.writeAudio(new Int16Array(960));
    await sleep(2_500);
    // Then pictures at the pace ffmpeg takes them: the slots owed are filled before the next one.
    for (let i = 40; i < 55; i++) {
      show(grey(i));
      await sleep(100);
    }
    const result = await file.finish((55 * 1000) / format.fps);

    expect(result.error).toBeUndefined();
    expect(result.frames).toBe(55);
    expect(result.droppedFrames).toBeGreaterThanOrEqual(20);
    const shown = picturesIn(result.path);
    expect(shown).toHaveLength(55);
    expect(shown.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // Never a picture before its time, and the last one in its own slot.
    for (const [slot, picture] of shown.entries()) expect(picture, `slot ${slot}`).toBeLessThanOrEqual(slot);
    expect(shown[54]).toBe(54);
  });
});
