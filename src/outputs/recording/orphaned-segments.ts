// A recovered session that cannot record on (the call ended while no worker held the job, or
// joining failed) still owns the segments its predecessors recorded. Nobody else will deliver
// them, so they are archived here with a manifest listing them, and the room is told where they
// went. (They cannot be attached: attachments go out through a call device, which this session
// never got.)
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SinkFile, StorageSink } from '../../delivery/storage-sink.ts';
import type { SegmentRecord } from '../../jobs/queues.ts';
import { writeManifest, type Manifest } from '../../media/recording/manifest.ts';
import type { Logger } from '../../observability/logger.ts';
import { describeEarlierSegments } from './earlier-segments.ts';

export interface OrphanedSegmentsInput {
  records: SegmentRecord[];
  manifest: Pick<Manifest, 'roomId' | 'sessionId' | 'requestedBy' | 'kind' | 'endReason'>;
  sink: StorageSink | undefined;
  log: Logger;
}

/** One sentence for the room, or nothing when there were no earlier segments. */
export async function deliverOrphanedSegments(input: OrphanedSegmentsInput): Promise<string | undefined> {
  const { records, log } = input;
  if (records.length === 0) return undefined;
  // Every recorded segment is earlier: this attempt recorded none.
  const earlier = await describeEarlierSegments(records, Number.POSITIVE_INFINITY, log);
  const last = earlier.segments.at(-1)!;
  const manifest: Manifest = {
    version: 1,
    ...input.manifest,
    startedAt: earlier.segments[0]!.startedAt,
    endedAt: new Date(Date.parse(last.startedAt) + last.durationMs).toISOString(),
    segments: earlier.segments,
    files: earlier.files,
  };
  const count = `${earlier.segments.length === 1 ? 'The segment' : `The ${earlier.segments.length} segments`} recorded before the recording's worker stopped`;
  if (earlier.local.length === 0) {
    return `${count} ${earlier.segments.length === 1 ? 'stays' : 'stay'} on the worker that recorded ${earlier.segments.length === 1 ? 'it' : 'them'}; no worker here can reach ${earlier.segments.length === 1 ? 'its' : 'their'} files.`;
  }
  // The manifest goes into the session's folder, above the segment folders it describes.
  const sessionDir = dirname(dirname(earlier.local[0]!.path));
  await mkdir(sessionDir, { recursive: true });
  const manifestPath = await writeManifest(sessionDir, manifest);
  if (!input.sink) return `${count} ${earlier.segments.length === 1 ? 'is' : 'are'} kept with a manifest on the worker's disk.`;
  const files: SinkFile[] = [...earlier.local.map((l) => ({ path: l.path, name: `${l.segmentDir}/${l.file.name}` })), { path: manifestPath, name: 'manifest.json' }];
  const facts = { roomId: manifest.roomId, sessionId: manifest.sessionId, startedAt: Date.parse(manifest.startedAt) };
  try {
    await input.sink.store(files, facts);
    log.info({ sink: input.sink.name, files: files.length, segments: earlier.segments.length }, 'archived the segments of a session that could not record on');
    return `${count} ${earlier.segments.length === 1 ? 'is' : 'are'} archived to ${input.sink.folder(facts)}.`;
  } catch (err) {
    log.error({ err, sink: input.sink.name }, 'archiving the earlier segments failed');
    return `${count} could not be archived (${(err as Error).message}); ${earlier.segments.length === 1 ? 'it stays' : 'they stay'} on the worker's disk.`;
  }
}
