// A recovered session's manifest lists the segments recorded before the crash (or the hand-over). Their files are
// described from this worker's storage when it can see them (one machine, or a shared volume),
// and returned with their paths so that this worker archives and uploads them too; otherwise the
// segment is listed with the worker that holds its files.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SegmentRecord } from '../../jobs/queues.ts';
import { describeFile, type ManifestFile, type ManifestSegment } from '../../media/recording/manifest.ts';
import { oggOpusDurationMs } from '../../media/recording/ogg-duration.ts';
import type { Logger } from '../../observability/logger.ts';

export interface EarlierSegments {
  segments: ManifestSegment[];
  files: ManifestFile[];
  /** The files this worker can read, to be delivered with the session's own. */
  local: Array<{ path: string; segmentDir: string; file: ManifestFile }>;
  /** Segments whose files are not on this worker: delivered by nobody, so the summary names them. */
  elsewhere: Array<{ index: number; worker: string }>;
}

export async function describeEarlierSegments(records: SegmentRecord[], currentIndex: number, log: Logger): Promise<EarlierSegments> {
  const segments: ManifestSegment[] = [];
  const files: ManifestFile[] = [];
  const local: EarlierSegments['local'] = [];
  const elsewhere: EarlierSegments['elsewhere'] = [];
  for (const record of records.filter((r) => r.index < currentIndex).sort((a, b) => a.index - b.index)) {
    const segmentFiles: ManifestFile[] = [];
    // Only plain files in a directory: a record naming a file, or a folder called `x.ogg`, would fail the reading below.
    if (existsSync(record.dir) && statSync(record.dir).isDirectory()) {
      const names = readdirSync(record.dir, { withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => entry.name)
        .sort();
      for (const name of names.filter((n) => n.endsWith('.ogg'))) {
        const path = join(record.dir, name);
        const owner = record.stems.find((s) => s.file === name);
        const who = { ...(owner?.userId ? { userId: owner.userId } : {}), ...(owner?.deviceId ? { deviceId: owner.deviceId } : {}) };
        try {
          const durationMs = await oggOpusDurationMs(path);
          segmentFiles.push(await describeFile(path, { kind: name === 'mixed.ogg' ? 'mixed' : 'stem', segment: record.index, durationMs, ...who }));
        } catch (err) {
          log.warn({ err, path }, 'a file of an interrupted segment is unreadable');
          segmentFiles.push(await describeFile(path, { kind: name === 'mixed.ogg' ? 'mixed' : 'stem', segment: record.index, durationMs: 0, ...who, error: (err as Error).message }));
        }
      }
      // The composite shares the audio's clock; Matroska has no cheap length field, so the mix's is used.
      const mixedMs = segmentFiles.find((f) => f.kind === 'mixed')?.durationMs ?? 0;
      for (const name of names.filter((n) => n.endsWith('.mkv'))) {
        segmentFiles.push(await describeFile(join(record.dir, name), { kind: 'video', segment: record.index, durationMs: mixedMs }));
      }
      const segmentDir = record.dir.split(/[\\/]/).pop()!;
      for (const file of segmentFiles) local.push({ path: join(record.dir, file.name), segmentDir, file });
    } else {
      log.warn({ segment: record.index, dir: record.dir, worker: record.worker }, 'the files of an earlier segment are not on this worker; listing the segment only');
      elsewhere.push({ index: record.index, worker: record.worker });
    }
    segments.push({
      index: record.index,
      dir: record.dir.split(/[\\/]/).pop()!,
      startedAt: record.startedAt,
      durationMs: Math.max(0, ...segmentFiles.map((f) => f.durationMs)),
      worker: record.worker,
      participants: record.participants,
      // A segment handed over to another worker was closed, not cut by a crash; it overlaps the next.
      ...(record.endedAt ? { endedAt: record.endedAt } : { interrupted: true as const }),
      ...(record.playFromMs !== undefined ? { playFromMs: record.playFromMs } : {}),
      ...(record.playUntilMs !== undefined ? { playUntilMs: record.playUntilMs } : {}),
    });
    files.push(...segmentFiles);
  }
  return { segments, files, local, elsewhere };
}
