// The end of a recording: a manifest beside the files, an archive copy in the storage sink, the
// files uploaded into the room, and one summary message saying what went where.
import type { MatrixClient } from 'matrix-js-sdk';
import { uploadToRoom, type RoomFile, type UploadOutcome } from '../../delivery/room-upload.ts';
import { formatBytes, formatDuration } from '../../format.ts';
import type { StorageSink, StoredFile } from '../../delivery/storage-sink.ts';
import type { AudioRecording } from './audio-files.ts';
import type { VideoResult } from './composite-file.ts';
import { describeFile, writeManifest, type Manifest, type ManifestFile, type ManifestSegment } from '../../media/recording/manifest.ts';
import type { Logger } from '../../observability/logger.ts';

export interface DeliveryInput {
  dir: string;
  recording: AudioRecording;
  manifest: Omit<Manifest, 'files' | 'segments'>;
  segment: ManifestSegment;
  /** The composite video of a video recording. */
  video?: VideoResult;
  /** Segments recorded before a crash recovery, and their files (listed, not uploaded again). */
  earlier?: { segments: ManifestSegment[]; files: ManifestFile[] };
  upload?: { client: MatrixClient; homeserverUrl: string; accessToken: string; encrypted: boolean };
  sink?: StorageSink;
  log: Logger;
}

export interface DeliveryReport {
  manifestPath: string;
  manifest: Manifest;
  stored: StoredFile[];
  uploads: UploadOutcome[];
  problems: string[];
}

export async function deliverRecording(input: DeliveryInput): Promise<DeliveryReport> {
  const { recording, segment } = input;
  const problems: string[] = [];
  const video = input.video;
  const files = [
    ...(video ? [await describeFile(video.path, { kind: 'video', segment: segment.index, durationMs: video.durationMs, ...errorOf(video) })] : []),
    await describeFile(recording.mixed.path, { kind: 'mixed', segment: segment.index, durationMs: recording.mixed.durationMs, ...errorOf(recording.mixed) }),
    ...(await Promise.all(
      recording.stems.map((stem) =>
        describeFile(stem.path, {
          kind: 'stem',
          segment: segment.index,
          durationMs: stem.durationMs,
          ...(stem.speaker.userId ? { userId: stem.speaker.userId } : {}),
          ...(stem.speaker.deviceId ? { deviceId: stem.speaker.deviceId } : {}),
          ...errorOf(stem),
        }),
      ),
    )),
  ];
  for (const f of files) if (f.error) problems.push(`${f.name}: ${f.error}`);
  const earlier = input.earlier ?? { segments: [], files: [] };
  const manifest: Manifest = {
    ...input.manifest,
    startedAt: earlier.segments[0]?.startedAt ?? input.manifest.startedAt,
    segments: [...earlier.segments, segment],
    files: [...earlier.files, ...files],
  };
  const manifestPath = await writeManifest(input.dir, manifest);
  const paths = [...(video ? [video.path] : []), recording.mixed.path, ...recording.stems.map((s) => s.path), manifestPath];

  let stored: StoredFile[] = [];
  if (input.sink) {
    try {
      stored = await input.sink.store(paths, { roomId: manifest.roomId, sessionId: manifest.sessionId, startedAt: Date.parse(manifest.startedAt) });
      input.log.info({ sink: input.sink.name, location: stored[0]?.location }, 'archived the recording');
    } catch (err) {
      input.log.error({ err, sink: input.sink.name }, 'archiving the recording failed');
      problems.push(`archiving failed: ${(err as Error).message}`);
    }
  }

  let uploads: UploadOutcome[] = [];
  if (input.upload) {
    const roomFiles: RoomFile[] = [
      ...(video ? [{ path: video.path, mimetype: 'video/x-matroska', msgtype: 'm.video' as const, durationMs: video.durationMs }] : []),
      { path: recording.mixed.path, mimetype: 'audio/ogg', msgtype: 'm.audio', durationMs: recording.mixed.durationMs },
      ...recording.stems.map((s): RoomFile => ({ path: s.path, mimetype: 'audio/ogg', msgtype: 'm.audio', durationMs: s.durationMs })),
      { path: manifestPath, mimetype: 'application/json', msgtype: 'm.file' },
    ];
    uploads = await uploadToRoom({ ...input.upload, roomId: manifest.roomId, log: input.log }, roomFiles);
    for (const u of uploads) if (!u.uploaded) problems.push(`${u.path.split('/').pop()} was not uploaded: ${u.reason}`);
  }
  return { manifestPath, manifest, stored, uploads, problems };
}

const errorOf = (file: { error?: string }) => (file.error ? { error: file.error } : {});

/** The message that closes a session in the room. */
export function summaryText(endReason: string, report: DeliveryReport): string {
  const { manifest } = report;
  const durationMs = manifest.segments.reduce((sum, s) => sum + s.durationMs, 0);
  const people = [...new Set(manifest.segments.flatMap((s) => s.participants.map((p) => p.userId)))];
  const totalBytes = manifest.files.reduce((sum, f) => sum + f.bytes, 0);
  const stems = manifest.files.filter((f) => f.kind === 'stem').length;
  const lines = [
    `Recording ended (${endReason}) after ${formatDuration(durationMs)}.`,
    `Participants: ${people.join(', ') || 'nobody'}.`,
    `Files: ${manifest.files.some((f) => f.kind === 'video') ? 'composite video, ' : ''}mixed audio and ${stems} speaker stem${stems === 1 ? '' : 's'}, ${formatBytes(totalBytes)} in all${report.uploads.some((u) => u.uploaded) ? ', attached above' : ''}.`,
  ];
  if (report.stored.length > 0) lines.push(`Archived to ${report.stored[0]!.location.replace(/\/[^/]+$/, '')}.`);
  if (report.problems.length > 0) lines.push(`Problems: ${report.problems.join('; ')}.`);
  return lines.join('\n');
}
