// Writes titles, tags and chapters into finished files: ffmpeg copies their streams into new files
// with them (no re-encoding), which then replace the originals. Done once the files are complete,
// because names are final only then and Ogg carries its comments in the header.
//
// All files of a recording are retagged by one ffmpeg: a process per file cost about 0.06 CPU-s
// each (ffmpeg's start-up, not the copy), 0.53 CPU-s for a mix and 8 stems of 20 s.
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ffmetadata, oggChapterTags, retagManyArgs, type FileChapter } from '../../media/ffmpeg/metadata-args.ts';
import { inputPipe, startFfmpeg } from '../../media/ffmpeg/process.ts';
import type { Logger } from '../../observability/logger.ts';

export interface FileToTag {
  path: string;
  tags: Record<string, string>;
  durationMs: number;
}

export interface TagOptions {
  chapters: readonly FileChapter[];
  ffmpegPath: string;
  log: Logger;
}

/**
 * Tags every file with one ffmpeg. When that fails, each file is tried alone, so one file ffmpeg
 * cannot read costs only its own tags; resolves to each file's error (undefined: tagged).
 */
export async function tagFiles(files: readonly FileToTag[], opts: TagOptions): Promise<Array<string | undefined>> {
  if (files.length === 0) return [];
  try {
    await retag(files, opts);
    return files.map(() => undefined);
  } catch (err) {
    if (files.length === 1) return [(err as Error).message];
    opts.log.warn({ err, files: files.length }, 'retagging the files together failed; trying each alone');
  }
  const errors: Array<string | undefined> = [];
  for (const file of files) errors.push(await retag([file], opts).then(() => undefined, (err: unknown) => (err as Error).message));
  return errors;
}

async function retag(files: readonly FileToTag[], opts: TagOptions): Promise<void> {
  const tagged = files.map((f) => join(dirname(f.path), `.tagging-${basename(f.path)}`));
  try {
    const args = retagManyArgs(files.map((f, i) => ({ input: f.path, output: tagged[i]!, format: formatOf(f.path), metadata: inputPipe(i) })));
    const ffmpeg = startFfmpeg(args, opts.log.child({ outputs: files.length }), opts.ffmpegPath, files.length);
    // Each text is small (well under a pipe's buffer), and ffmpeg reads each metadata input whole when it opens it.
    for (const [i, file] of files.entries()) await ffmpeg.write(new TextEncoder().encode(metadataOf(file, opts.chapters)), i);
    await ffmpeg.finish();
    for (const [i, file] of files.entries()) await rename(tagged[i]!, file.path);
  } finally {
    await Promise.all(tagged.map((path) => rm(path, { force: true })));
  }
}

const formatOf = (path: string) => (path.endsWith('.mkv') ? 'matroska' : 'ogg');

function metadataOf(file: FileToTag, chapters: readonly FileChapter[]): string {
  return formatOf(file.path) === 'ogg'
    ? ffmetadata({ ...file.tags, ...oggChapterTags(chapters, file.durationMs) }, [], file.durationMs)
    : ffmetadata(file.tags, chapters, file.durationMs);
}
