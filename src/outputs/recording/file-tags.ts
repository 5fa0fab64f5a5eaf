// Writes titles, tags and chapters into a finished file: ffmpeg copies its streams into a new file
// with them (no re-encoding), which then replaces the original. Done once the file is complete,
// because names are final only then and Ogg carries its comments in the header.
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ffmetadata, oggChapterTags, retagArgs, type FileChapter } from '../../media/ffmpeg/metadata-args.ts';
import { startFfmpeg } from '../../media/ffmpeg/process.ts';
import type { Logger } from '../../observability/logger.ts';

export async function tagFile(
  path: string,
  opts: { tags: Record<string, string>; chapters: readonly FileChapter[]; durationMs: number; ffmpegPath: string; log: Logger },
): Promise<void> {
  const format = path.endsWith('.mkv') ? 'matroska' : 'ogg';
  const tagged = join(dirname(path), `.tagging-${basename(path)}`);
  try {
    const ffmpeg = startFfmpeg(retagArgs(path, tagged, format), opts.log.child({ output: tagged }), opts.ffmpegPath);
    const text =
      format === 'ogg'
        ? ffmetadata({ ...opts.tags, ...oggChapterTags(opts.chapters, opts.durationMs) }, [], opts.durationMs)
        : ffmetadata(opts.tags, opts.chapters, opts.durationMs);
    await ffmpeg.write(new TextEncoder().encode(text));
    await ffmpeg.finish();
    await rename(tagged, path);
  } catch (err) {
    await rm(tagged, { force: true });
    throw err;
  }
}
