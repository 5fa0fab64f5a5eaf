// The end of a recording: a manifest beside the files, an archive copy in the storage sink, the
// files uploaded into the room, and one summary message saying what went where.
import type { MatrixClient } from 'matrix-js-sdk';
import { uploadToRoom, type RoomFile, type UploadOutcome } from '../../delivery/room-upload.ts';
import { formatBytes, formatDuration, nameWithId } from '../../format.ts';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SinkFile, StorageSink, StoredFile } from '../../delivery/storage-sink.ts';
import type { EarlierSegments } from './earlier-segments.ts';
import type { AudioFileResult, AudioRecording } from './audio-files.ts';
import type { VideoResult } from './composite-file.ts';
import { describeFile, writeManifest, type ConsentLedger, type Manifest, type ManifestFile, type ManifestSegment } from '../../media/recording/manifest.ts';
import { stitchPlan } from '../../media/recording/handover-cut.ts';
import type { Logger } from '../../observability/logger.ts';

export interface DeliveryInput {
  dir: string;
  recording: AudioRecording;
  manifest: Omit<Manifest, 'files' | 'segments'>;
  segment: ManifestSegment;
  /** The composite video of a video recording. */
  video?: VideoResult;
  /** Segments recorded before a crash recovery and their files: the ones on this worker are archived and uploaded with this segment's. */
  earlier?: { segments: ManifestSegment[]; files: ManifestFile[]; local?: EarlierSegments['local']; elsewhere?: EarlierSegments['elsewhere'] };
  upload?: { client: MatrixClient; homeserverUrl: string; accessToken: string; encrypted: boolean };
  /** Recordings over the upload limit are cut into parts with this ffmpeg (below `maxBytes` when set). */
  split?: { ffmpegPath: string; maxBytes?: number | undefined };
  sink?: StorageSink;
  /** A member as the room shows them (default: the Matrix ID). */
  displayName?: (userId: string) => string;
  /** What already went wrong before delivery (reported with the rest). */
  problems?: string[];
  consent?: ConsentLedger;
  log: Logger;
}

export interface DeliveryReport {
  manifestPath: string;
  manifest: Manifest;
  stored: StoredFile[];
  /** The session's folder in the archive, when a sink is configured. */
  archive?: string;
  uploads: UploadOutcome[];
  problems: string[];
}

export async function deliverRecording(input: DeliveryInput): Promise<DeliveryReport> {
  const { recording, segment } = input;
  const problems: string[] = [...(input.problems ?? [])];
  const displayName = input.displayName ?? ((userId: string) => userId);
  const named = <T extends { userId?: string }>(item: T): T => (item.userId ? { ...item, displayName: displayName(item.userId) } : item);
  const video = input.video;
  const files = [
    ...(video ? [await describeFile(video.path, { kind: 'video', segment: segment.index, durationMs: video.durationMs, ...errorOf(video) })] : []),
    ...(await describeParts(recording.mixed, { kind: 'mixed', segment: segment.index })),
    ...(
      await Promise.all(
        recording.stems.map((stem) =>
          describeParts(stem, {
            kind: 'stem',
            segment: segment.index,
            ...(stem.speaker.userId ? { userId: stem.speaker.userId, displayName: displayName(stem.speaker.userId) } : {}),
            ...(stem.speaker.deviceId ? { deviceId: stem.speaker.deviceId } : {}),
          }),
        ),
      )
    ).flat(),
  ];
  for (const f of files) if (f.error) problems.push(`${f.name}: ${f.error}`);
  const earlier = input.earlier ?? { segments: [], files: [] };
  const manifest: Manifest = {
    ...input.manifest,
    startedAt: earlier.segments[0]?.startedAt ?? input.manifest.startedAt,
    segments: [...earlier.segments, segment].map((s) => ({ ...s, participants: s.participants.map(named) })),
    files: [...earlier.files.map(named), ...files],
    ...(input.consent ? { consent: input.consent } : {}),
  };
  // A full disk must not cost the files already written: without a manifest they are still delivered.
  let manifestPath = join(input.dir, 'manifest.json');
  let manifestWritten = true;
  try {
    manifestPath = await writeManifest(input.dir, manifest);
  } catch (err) {
    manifestWritten = false;
    input.log.error({ err }, 'could not write the manifest');
    // A full disk leaves it cut short: no half manifest for a reader to trust.
    await rm(manifestPath, { force: true }).catch((rmErr: unknown) => input.log.warn({ err: rmErr }, 'could not remove the partial manifest'));
    problems.push(`the manifest could not be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // One segment: its files side by side, as always. Several (a recovered session): a folder per
  // segment, as the manifest's `dir` names them, and the manifest above them.
  const earlierLocal = input.earlier?.local ?? [];
  const nested = earlier.segments.length > 0;
  const ownFile = (path: string): SinkFile => ({ path, name: nested ? `${segment.dir}/${basename(path)}` : basename(path) });
  const sinkFiles: SinkFile[] = [
    ...earlierLocal.map((l) => ({ path: l.path, name: `${l.segmentDir}/${l.file.name}` })),
    ...[...(video ? [video.path] : []), ...withParts(recording.mixed), ...recording.stems.flatMap(withParts)].map(ownFile),
    ...(manifestWritten ? [{ path: manifestPath, name: basename(manifestPath) }] : []),
  ];
  for (const { index, worker } of input.earlier?.elsewhere ?? []) {
    problems.push(`the files of segment ${index} are on ${worker}, which recorded them, and were neither archived nor attached here`);
  }

  let stored: StoredFile[] = [];
  let archive: string | undefined;
  if (input.sink) {
    const facts = { roomId: manifest.roomId, sessionId: manifest.sessionId, startedAt: Date.parse(manifest.startedAt) };
    try {
      archive = input.sink.folder(facts);
      stored = await input.sink.store(sinkFiles, facts);
      input.log.info({ sink: input.sink.name, files: stored.length, earlierSegmentFiles: earlierLocal.length }, 'archived the recording');
    } catch (err) {
      stored = (err as { stored?: StoredFile[] }).stored ?? [];
      input.log.error({ err, sink: input.sink.name }, 'archiving the recording failed');
      problems.push(`archiving failed: ${(err as Error).message}`);
    }
  }

  let uploads: UploadOutcome[] = [];
  const handedOver = new Set((input.earlier?.segments ?? []).filter((s) => s.playUntilMs !== undefined).map((s) => s.index));
  if (input.upload) {
    const roomFiles: RoomFile[] = [
      // The segments before a recovery first, in the order they were recorded.
      ...earlierLocal.map(
        (l): RoomFile => ({
          path: l.path,
          mimetype: l.file.kind === 'video' ? 'video/x-matroska' : 'audio/ogg',
          msgtype: l.file.kind === 'video' ? 'm.video' : 'm.audio',
          durationMs: l.file.durationMs,
          caption: `${l.file.name}, segment ${l.file.segment} (${handedOver.has(l.file.segment) ? 'until its worker handed the call over; it overlaps the next segment, the manifest says where to cut' : 'recorded until its worker stopped'})`,
        }),
      ),
      ...(video ? [{ path: video.path, mimetype: 'video/x-matroska', msgtype: 'm.video' as const, durationMs: video.durationMs }] : []),
      ...roomParts(recording.mixed),
      ...recording.stems.flatMap((s) => roomParts(s, s.speaker.userId ? `${nameWithId(displayName(s.speaker.userId), s.speaker.userId)}: their voice alone` : undefined)),
      ...(manifestWritten ? [{ path: manifestPath, mimetype: 'application/json', msgtype: 'm.file' as const }] : []),
    ];
    uploads = await uploadToRoom({ ...input.upload, roomId: manifest.roomId, ...(input.split ? { split: input.split } : {}), log: input.log }, roomFiles);
    for (const u of uploads) if (!u.uploaded) problems.push(`${u.path.split('/').pop()} was not uploaded: ${u.reason}`);
  }
  return { manifestPath, manifest, stored, ...(archive && stored.length > 0 ? { archive } : {}), uploads, problems };
}

const errorOf = (file: { error?: string }) => (file.error ? { error: file.error } : {});

/** A file and the parts it went on in after its ffmpeg died (parted-output.ts), each described on its own. */
function describeParts(file: AudioFileResult, fields: Omit<ManifestFile, 'name' | 'bytes' | 'sha256' | 'durationMs'>): Promise<ManifestFile[]> {
  return Promise.all([
    describeFile(file.path, { ...fields, durationMs: file.durationMs, ...errorOf(file) }),
    ...(file.parts ?? []).map((part) => describeFile(part.path, { ...fields, durationMs: part.durationMs, offsetMs: part.offsetMs, ...errorOf(part) })),
  ]);
}

const withParts = (file: AudioFileResult) => [file.path, ...(file.parts ?? []).map((p) => p.path)];

function roomParts(file: AudioFileResult, caption?: string): RoomFile[] {
  const audio = { mimetype: 'audio/ogg', msgtype: 'm.audio' as const };
  return [
    { path: file.path, ...audio, durationMs: file.durationMs, ...(caption ? { caption } : {}) },
    ...(file.parts ?? []).map((part) => ({
      path: part.path,
      ...audio,
      durationMs: part.durationMs,
      caption: `${caption ? `${caption}, ` : ''}continued from ${formatDuration(part.offsetMs)} after its encoder stopped`,
    })),
  ];
}

/** The message that closes a session in the room. */
export function summaryText(endReason: string, report: DeliveryReport): string {
  const { manifest } = report;
  // Segments of a hand-over overlap: what plays once stitched is counted.
  const durationMs = stitchPlan(manifest.segments).reduce((sum, s) => sum + s.untilMs - s.fromMs, 0);
  const handOvers = manifest.segments.filter((s) => s.playUntilMs !== undefined).length;
  const names = new Map(manifest.segments.flatMap((s) => s.participants.map((p) => [p.userId, nameWithId(p.displayName ?? p.userId, p.userId)] as const)));
  const people = [...names.values()];
  const chapters = manifest.segments.reduce((sum, s) => sum + (s.chapters?.length ?? 0), 0);
  const pauses = manifest.consent?.pauses ?? [];
  // Who opted out at some point, or never opted in where the room requires it.
  const notRecorded = (manifest.consent?.people ?? []).filter(
    (p) => p.choices.some((c) => c.choice === 'optout') || (manifest.consent?.mode === 'required' && !p.choices.some((c) => c.choice === 'optin')),
  );
  const totalBytes = manifest.files.reduce((sum, f) => sum + f.bytes, 0);
  const stems = manifest.files.filter((f) => f.kind === 'stem' && f.offsetMs === undefined).length;
  const parts = manifest.files.filter((f) => f.offsetMs !== undefined);
  const lines = [
    `Recording ended (${endReason}) after ${formatDuration(durationMs)}.`,
    `Participants: ${people.join(', ') || 'nobody'}.`,
    ...(pauses.length > 0 ? [`Paused ${pauses.length === 1 ? 'once' : `${pauses.length} times`}; the paused spans are not in the files.`] : []),
    ...(notRecorded.length > 0 ? [`Left out for all or part of the call (their choice): ${notRecorded.map((p) => nameWithId(p.displayName, p.userId)).join(', ')}.`] : []),
    ...(chapters > 0 ? [`Chapters: ${chapters} (in the files and the manifest).`] : []),
    `Files: ${manifest.files.some((f) => f.kind === 'video') ? 'composite video, ' : ''}mixed audio and ${stems} speaker stem${stems === 1 ? '' : 's'}, ${formatBytes(totalBytes)} in all${report.uploads.some((u) => u.uploaded) ? ', attached above' : ''}.`,
  ];
  if (handOvers > 0) lines.push(`Handed over between workers ${handOvers === 1 ? 'once' : `${handOvers} times`} (a restart), in overlapping segments; the manifest says where to cut.`);
  if (parts.length > 0) {
    lines.push(`Went on in a new part after an encoder stopped: ${parts.map((f) => `${f.name} (from ${formatDuration(f.offsetMs!)})`).join(', ')}; the manifest gives each part's offset.`);
  }
  const cut = report.uploads.flatMap((u) => (u.uploaded && u.parts ? [{ ...u, parts: u.parts }] : []));
  if (cut.length > 0) {
    lines.push(
      `Over the upload limit of ${formatBytes(cut[0]!.parts.limitBytes)}, so attached in parts that each play on their own: ` +
        `${cut.map((u) => `${basename(u.path)} (${formatBytes(u.bytes)}, ${u.parts.count} parts)`).join(', ')}.`,
    );
  }
  if (report.archive) lines.push(`Archived to ${report.archive}.`);
  if (report.problems.length > 0) lines.push(`Problems: ${report.problems.join('; ')}.`);
  return lines.join('\n');
}
