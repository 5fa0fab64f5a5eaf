// The JSON manifest written beside a recording: what was recorded, when, of whom, in which files
// (with durations and checksums), and the segments a crash-recovered session is made of.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface ParticipantSpan {
  userId: string;
  /** As the room showed them when the recording was delivered (disambiguated like Element does). */
  displayName?: string;
  deviceId: string;
  /** Wall-clock offsets from the segment's start, in ms (paused spans count); `leftMs` is absent while still in the call at the end. */
  joinedMs: number;
  leftMs?: number;
}

export interface ManifestFile {
  name: string;
  kind: 'mixed' | 'stem' | 'video' | 'captions' | 'transcript';
  segment: number;
  userId?: string;
  displayName?: string;
  deviceId?: string;
  durationMs: number;
  /** A part after its file's ffmpeg died: where it starts from the segment's start (the gap before it is lost audio). */
  offsetMs?: number;
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
  /** Chapters in this segment's files (offsets in the files, which leave paused spans out). */
  chapters?: Chapter[];
  /** Spans of the files without the call's media (the bot's SFU connection was gone): silence there is not the call's. */
  gaps?: MediaGap[];
  interrupted?: true;
  /**
   * Hand-overs (a worker shutting down, another taking over) overlap two segments: play this one's
   * files from `playFromMs` (it took over) and up to `playUntilMs` (it handed over); offsets in ms.
   */
  playFromMs?: number;
  playUntilMs?: number;
}

export interface MediaGap {
  /** Offsets in the segment's files, in ms. */
  fromMs: number;
  toMs: number;
  reason: string;
}

export interface Chapter {
  /** Offset in the segment's files, in ms. */
  startMs: number;
  title: string;
  /** When it was heard (wall clock). */
  at: string;
}

/** Who was recorded, whether and when they were told, and what they chose. */
export interface ConsentLedger {
  /** `notice`: everyone is recorded unless they opt out; `required`: only who opted in. */
  mode: 'notice' | 'required';
  modeChanges: Array<{ mode: 'notice' | 'required'; by: string; at: string }>;
  people: Array<{
    userId: string;
    displayName: string;
    /** First seen in the call while the recording ran. */
    firstSeenAt: string;
    /** When the bot told them (in the room, naming them or everyone in the call). */
    toldAt?: string;
    toldBy?: string;
    choices: Array<{ choice: 'optout' | 'optin'; at: string }>;
  }>;
  pauses: Array<{ by: string; from: string; to?: string; resumedBy?: string }>;
}

/** How a segment's transcript was made: one recognition per speaker's stem, so attribution is exact. */
export interface TranscriptEntry {
  recogniser: string;
  segment: number;
  speakers: Array<{ stem: string; userId?: string; displayName?: string; utterances: number; words: number; error?: string }>;
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
  /** Speech recognised per speaker from their stem (captions and text among `files`). */
  transcript?: TranscriptEntry;
  consent?: ConsentLedger;
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
