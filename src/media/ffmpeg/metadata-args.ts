// Titles, tags and chapters written into finished files (pure): an FFMETADATA text and the ffmpeg
// arguments that copy a file's streams unchanged with them. Matroska gets real chapters; Ogg gets
// them as the Vorbis comments players read (CHAPTER001=00:01:02.000, CHAPTER001NAME=…), written
// here rather than by ffmpeg: ffmpeg 5.1's Ogg muxer rounds the seconds of a chapter's time to the
// nearest one and keeps the milliseconds, so 5.940 s became 00:00:06.940 (measured).

export interface FileChapter {
  startMs: number;
  title: string;
}

/** FFMETADATA1 escapes `=`, `;`, `#`, `\` and newlines with a backslash. */
const escape = (text: string) => text.replace(/[=;#\\\n]/g, (c) => `\\${c}`);

/**
 * Chapters as spans covering the file: each ends where the next starts, the last at `durationMs`;
 * a file whose first chapter starts later gets one from 0, so every moment belongs to a chapter.
 */
export function chapterSpans(chapters: readonly FileChapter[], durationMs: number): Array<FileChapter & { endMs: number }> {
  const sorted = [...chapters].filter((c) => c.startMs < durationMs).sort((a, b) => a.startMs - b.startMs);
  if (sorted.length > 0 && sorted[0]!.startMs > 0) sorted.unshift({ startMs: 0, title: 'Start' });
  return sorted.flatMap((chapter, i) => {
    const endMs = sorted[i + 1]?.startMs ?? durationMs;
    return endMs > chapter.startMs ? [{ ...chapter, endMs }] : []; // two at one moment: the later one stands
  });
}

const clock = (ms: number) => {
  const t = Math.round(ms);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(Math.floor(t / 3_600_000))}:${pad(Math.floor(t / 60_000) % 60)}:${pad(Math.floor(t / 1000) % 60)}.${pad(t % 1000, 3)}`;
};

/** The Vorbis comments of the chapter convention (CHAPTERxxx, CHAPTERxxxNAME). */
export function oggChapterTags(chapters: readonly FileChapter[], durationMs: number): Record<string, string> {
  return Object.fromEntries(
    chapterSpans(chapters, durationMs).flatMap((c, i) => {
      const n = String(i).padStart(3, '0');
      return [[`CHAPTER${n}`, clock(c.startMs)], [`CHAPTER${n}NAME`, c.title]];
    }),
  );
}

/** Global tags and, for containers that have them (Matroska), chapters. */
export function ffmetadata(tags: Record<string, string>, chapters: readonly FileChapter[], durationMs: number): string {
  const lines = [';FFMETADATA1', ...Object.entries(tags).map(([key, value]) => `${escape(key)}=${escape(value)}`)];
  for (const c of chapterSpans(chapters, durationMs)) {
    lines.push('[CHAPTER]', 'TIMEBASE=1/1000', `START=${Math.round(c.startMs)}`, `END=${Math.round(c.endMs)}`, `title=${escape(c.title)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** One file of retagManyArgs: its streams copied from `input` to `output`, with the FFMETADATA of `metadata` (an input URL). */
export interface RetagFile {
  input: string;
  output: string;
  format: 'ogg' | 'matroska';
  metadata: string;
}

/**
 * Copies each file's streams to its output with its FFMETADATA as tags and chapters, all in one
 * ffmpeg: every file and then every metadata text are inputs (file i is input i, its metadata
 * input n + i), and each output takes its own pair.
 */
export function retagManyArgs(files: readonly RetagFile[]): string[] {
  const n = files.length;
  if (n === 0) throw new Error('retagging needs at least one file');
  return [
    ...files.flatMap((f) => ['-i', f.input]),
    ...files.flatMap((f) => ['-f', 'ffmetadata', '-i', f.metadata]),
    ...files.flatMap((f, i) => ['-map', String(i), '-map_metadata', String(n + i), '-map_chapters', String(n + i), '-c', 'copy', '-f', f.format, '-y', f.output]),
  ];
}
