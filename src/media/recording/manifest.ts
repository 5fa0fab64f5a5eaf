// The JSON manifest written beside a recording: what was recorded, when, of whom, in which files
// (with durations and checksums), and the segments a crash-recovered session is made of.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface ParticipantSpan {
  userId: string;
  deviceId: string;
  /** Offsets from the segment's start, in ms; `leftMs` is absent while still in the call at the end. */
  joinedMs: number;
  leftMs?: number;
}

export interface ManifestFile {
  name: string;
  kind: 'mixed' | 'stem' | 'video';
  segment: number;
  userId?: string;
  deviceId?: string;
  durationMs: number;
  bytes: number;
  sha256: string;
  error?: string;
}

export interface ManifestSegment {
  index: number;
  /** The segment's directory beside the others (`segment-N`): its files are there. */
  dir: string;
  startedAt: string;
  /** Absent for a segment whose worker died: its files end where the crash cut them. */
  endedAt?: string;
  durationMs: number;
  worker: string;
  participants: ParticipantSpan[];
  interrupted?: true;
}

export interface Manifest {
  version: 1;
  roomId: string;
  sessionId: string;
  requestedBy: string;
  kind: 'audio' | 'video';
  startedAt: string;
  endedAt: string;
  endReason: string;
  segments: ManifestSegment[];
  files: ManifestFile[];
  /** How long the local files are kept (recording.retentionDays): `localDays` null means until deleted by hand. */
  retention?: { localDays: number; localUntil: string } | { localDays: null };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export async function describeFile(path: string, fields: Omit<ManifestFile, 'name' | 'bytes' | 'sha256'>): Promise<ManifestFile> {
  const [{ size }, sha256] = await Promise.all([stat(path), sha256File(path)]);
  return { name: basename(path), bytes: size, sha256, ...fields };
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<string> {
  const path = join(dir, 'manifest.json');
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return path;
}
