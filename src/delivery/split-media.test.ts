// Cutting a recording into parts under a byte limit, with the real ffmpeg: every part is under
// the limit, plays on its own (decodes to the tone), and the parts together are as long as the file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeToPcm } from '../../test/helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../../test/helpers/fft.ts';
import { evenLength, mediaDurationMs, splitMedia } from './split-media.ts';

const ffmpeg = 'ffmpeg';

function toneFile(ext: 'ogg' | 'mkv', seconds: number): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mrr-split-')), `mixed.${ext}`);
  const video = ext === 'mkv' ? ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=15:duration=${seconds}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30'] : [];
  execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`, ...video, '-c:a', 'libopus', '-b:a', '64k', '-page_duration', '1000000', path]);
  return path;
}

describe('evenLength', () => {
  it('cuts into equal parts no more numerous than cutting at the longest length would', () => {
    expect(evenLength(14.66, 3.4)).toBeCloseTo(14.66 / 5 + 0.1);
    expect(evenLength(10, 5)).toBeCloseTo(5.1);
    expect(evenLength(3, 10)).toBeCloseTo(3.1);
  });
});

describe('splitMedia', () => {
  it('cuts an Ogg Opus recording into parts under the limit that each play the tone and together last as long', async () => {
    const path = toneFile('ogg', 30);
    const bytes = statSync(path).size;
    const limitBytes = Math.ceil(bytes / 3.5);
    const total = await mediaDurationMs(path, ffmpeg);
    const split = await splitMedia(path, { limitBytes, ffmpegPath: ffmpeg });
    try {
      const { parts } = split;
      expect(parts.length).toBeGreaterThanOrEqual(4);
      expect(parts.map((p) => p.path.split('/').pop())).toEqual(parts.map((_, i) => `mixed.part-${i + 1}-of-${parts.length}.ogg`));
      for (const part of parts) {
        expect(part.bytes).toBeLessThanOrEqual(limitBytes);
        const pcm = decodeToPcm(part.path, ffmpeg);
        // Each part starts at zero and decodes as long as ffmpeg says it lasts.
        expect(Math.abs(pcm.length / 48 - part.durationMs)).toBeLessThan(60);
        expect(Math.abs(dominantFrequency(pcm.subarray(4800), 48_000) - 440)).toBeLessThan(5);
        expect(toneSnrDb(pcm.subarray(4800), 48_000, 440)).toBeGreaterThan(30);
      }
      const sum = parts.reduce((s, p) => s + p.durationMs, 0);
      console.log(`[measure] split ${bytes} bytes / ${total} ms under ${limitBytes} bytes: ${parts.map((p) => `${p.bytes} B ${p.durationMs} ms`).join(', ')}; sum ${sum} ms`);
      expect(Math.abs(sum - total)).toBeLessThan(100);
      // Equal parts: no short last part (a message that plays a fraction of a second).
      const lengths = parts.map((p) => p.durationMs);
      expect(Math.min(...lengths)).toBeGreaterThan(0.8 * Math.max(...lengths));
    } finally {
      await split.dispose();
    }
  });

  it('cuts a Matroska video at keyframes into playable parts', async () => {
    const path = toneFile('mkv', 12);
    const bytes = statSync(path).size;
    const split = await splitMedia(path, { limitBytes: Math.ceil(bytes / 2.5), ffmpegPath: ffmpeg });
    try {
      expect(split.parts.length).toBeGreaterThanOrEqual(3);
      for (const part of split.parts) {
        const streams = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', part.path], { encoding: 'utf8' }).trim().split('\n');
        expect(streams.sort()).toEqual(['h264', 'opus']);
      }
      expect(Math.abs(split.parts.reduce((s, p) => s + p.durationMs, 0) - (await mediaDurationMs(path, ffmpeg)))).toBeLessThan(200);
    } finally {
      await split.dispose();
    }
  });

  it('says so when a file cannot be cut under the limit', async () => {
    const path = toneFile('ogg', 3);
    await expect(splitMedia(path, { limitBytes: 200, ffmpegPath: ffmpeg })).rejects.toThrow(/mixed\.ogg \(.*\) could not be cut into parts of at least a second under 200 B/);
  });
});
