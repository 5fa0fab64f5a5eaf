// tagFiles with the real ffmpeg and ffprobe: files made by ffmpeg, tagged together, read back.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { tagFiles } from './file-tags.ts';

const log = pino({ level: 'silent' });

/** One second of a tone as Ogg Opus, or (with video) as Matroska with a picture too. */
function makeFile(path: string, video = false): void {
  const picture = video ? ['-f', 'lavfi', '-i', 'color=c=red:s=64x48:r=5:d=1'] : [];
  const codecs = video ? ['-c:v', 'libx264', '-c:a', 'libopus'] : ['-c:a', 'libopus'];
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=1', ...picture, ...codecs, '-y', path]);
}

/** A file's tags (Ogg's comments show as the stream's, Matroska's as the file's; names upper-cased) and chapters, as ffprobe reads them. */
function probe(path: string): { tags: Record<string, string>; chapters: Array<{ start_time: string; tags: { title: string } }>; streams: number } {
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_format', '-show_chapters', '-show_streams', '-of', 'json', path], { encoding: 'utf8' })) as {
    format: { tags?: Record<string, string> };
    chapters: Array<{ start_time: string; tags: { title: string } }>;
    streams: Array<{ tags?: Record<string, string> }>;
  };
  const all = [out.format.tags, ...out.streams.map((s) => s.tags)].flatMap((t) => Object.entries(t ?? {}));
  const tags = Object.fromEntries(all.map(([k, v]) => [k.toUpperCase(), v]));
  return { tags, chapters: out.chapters, streams: out.streams.length };
}

describe('tagFiles', () => {
  it('writes each file its own tags and the chapters, with one ffmpeg for all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-tags-'));
    const [mixed, stem, video] = ['mixed.ogg', 'stem-01-alice.ogg', 'call.mkv'].map((name) => join(dir, name));
    makeFile(mixed!);
    makeFile(stem!);
    makeFile(video!, true);
    const errors = await tagFiles(
      [
        { path: mixed!, tags: { TITLE: 'Room: everyone (mixed)' }, durationMs: 1_000 },
        { path: stem!, tags: { TITLE: 'Alice (@alice:hs)', MATRIX_USER_ID: '@alice:hs' }, durationMs: 1_000 },
        { path: video!, tags: { TITLE: 'Room: the call (video)' }, durationMs: 1_000 },
      ],
      { chapters: [{ startMs: 500, title: 'Resumed' }], ffmpegPath: 'ffmpeg', log },
    );
    expect(errors).toEqual([undefined, undefined, undefined]);
    // ffprobe reads Ogg's CHAPTERxxx comments back as chapters.
    const chapters = (path: string) => probe(path).chapters.map((c) => [c.start_time, c.tags.title]);
    const expected = [['0.000000', 'Start'], ['0.500000', 'Resumed']];
    expect(probe(mixed!).tags).toMatchObject({ TITLE: 'Room: everyone (mixed)' });
    expect(chapters(mixed!)).toEqual(expected);
    expect(probe(stem!).tags).toMatchObject({ TITLE: 'Alice (@alice:hs)', MATRIX_USER_ID: '@alice:hs' });
    expect(chapters(stem!)).toEqual(expected);
    const mkv = probe(video!);
    expect(mkv.tags.TITLE).toBe('Room: the call (video)');
    expect(mkv.streams).toBe(2);
    expect(chapters(video!)).toEqual(expected);
    // Nothing is left beside the files.
    expect(readdirSync(dir).sort()).toEqual(['call.mkv', 'mixed.ogg', 'stem-01-alice.ogg']);
  });

  it('a file ffmpeg cannot read costs only its own tags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-tags-'));
    const [good, broken] = ['mixed.ogg', 'stem-01-bob.ogg'].map((name) => join(dir, name));
    makeFile(good!);
    writeFileSync(broken!, 'not an Ogg file');
    const errors = await tagFiles(
      [
        { path: good!, tags: { TITLE: 'everyone' }, durationMs: 1_000 },
        { path: broken!, tags: { TITLE: 'Bob' }, durationMs: 1_000 },
      ],
      { chapters: [], ffmpegPath: 'ffmpeg', log },
    );
    expect(errors[0]).toBeUndefined();
    expect(errors[1]).toMatch(/ffmpeg exited with code/);
    expect(probe(good!).tags.TITLE).toBe('everyone');
    expect(readFileSync(broken!, 'utf8')).toBe('not an Ogg file');
    expect(readdirSync(dir).sort()).toEqual(['mixed.ogg', 'stem-01-bob.ogg']);
  });
});
