// The transcript of a delivered recording: each speaker's stem through the recogniser, one at a
// time (after the call, in child processes, never on the media clock), merged into WebVTT
// captions and a readable text file beside the files; the manifest lists them and how they were
// made; the archive gets them with the updated manifest, the room gets them as attachments.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { MatrixClient } from 'matrix-js-sdk';
import { uploadToRoom, type UploadOutcome } from '../../delivery/room-upload.ts';
import type { StorageSink } from '../../delivery/storage-sink.ts';
import { describeError } from '../../errors.ts';
import { describeFile, writeManifest, type Manifest, type TranscriptEntry } from '../../media/recording/manifest.ts';
import type { Logger } from '../../observability/logger.ts';
import { captionCues, renderText, renderWebVtt, type SpeakerTranscript } from '../../transcripts/captions.ts';
import type { SpeechRecogniser, Utterance } from '../../transcripts/recogniser.ts';

export interface TranscriptInput {
  /** The segment's folder (its stems and manifest are there). */
  dir: string;
  segment: number;
  manifest: Manifest;
  manifestPath: string;
  recogniser: SpeechRecogniser;
  /** The room's name, for the text file's heading. */
  roomName?: string;
  upload?: { client: MatrixClient; homeserverUrl: string; accessToken: string; encrypted: boolean };
  sink?: StorageSink;
  signal?: AbortSignal;
  log: Logger;
}

export interface TranscriptReport {
  captionsPath: string;
  textPath: string;
  entry: TranscriptEntry;
  uploads: UploadOutcome[];
  problems: string[];
  /** CPU time of the recognition, all speakers (ms), when the platform tells it. */
  cpuMs?: number;
}

export async function deliverTranscript(input: TranscriptInput): Promise<TranscriptReport> {
  const { manifest, log } = input;
  const problems: string[] = [];
  const stems = manifest.files.filter((f) => f.kind === 'stem' && f.segment === input.segment && !f.error);
  const transcripts: SpeakerTranscript[] = [];
  const entry: TranscriptEntry = { recogniser: input.recogniser.name, segment: input.segment, speakers: [] };
  let cpuMs: number | undefined;
  for (const stem of stems) {
    const name = stem.displayName ?? stem.userId ?? stem.name;
    const who = { stem: stem.name, ...(stem.userId ? { userId: stem.userId } : {}), ...(stem.displayName ? { displayName: stem.displayName } : {}) };
    const cpuBefore = childrenCpuMs();
    const startedAt = Date.now();
    try {
      // A part written after its first ffmpeg died starts later in the segment: its times move by that much.
      const offset = 'offsetMs' in stem && typeof stem.offsetMs === 'number' ? stem.offsetMs : 0;
      const utterances = (await input.recogniser.transcribe(join(input.dir, stem.name), input.signal)).map((u) => shifted(u, offset));
      const cpuAfter = childrenCpuMs();
      const cpu = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
      if (cpu !== undefined) cpuMs = (cpuMs ?? 0) + cpu;
      const words = utterances.reduce((sum, u) => sum + u.words.length, 0);
      const same = transcripts.find((t) => t.name === name && t.userId === stem.userId);
      if (same) same.utterances.push(...utterances);
      else transcripts.push({ name, ...(stem.userId ? { userId: stem.userId } : {}), utterances });
      entry.speakers.push({ ...who, utterances: utterances.length, words });
      log.info({ stem: stem.name, utterances: utterances.length, words, audioMs: stem.durationMs, cpuMs: cpu, wallMs: Date.now() - startedAt, recogniser: input.recogniser.name }, 'speaker transcribed');
    } catch (err) {
      log.error({ err, stem: stem.name }, 'transcribing a speaker failed; the others go on');
      entry.speakers.push({ ...who, utterances: 0, words: 0, error: describeError(err) });
      problems.push(`${name}'s speech could not be transcribed: ${describeError(err)}`);
    }
  }

  const captionsPath = join(input.dir, 'transcript.vtt');
  const textPath = join(input.dir, 'transcript.txt');
  await writeFile(captionsPath, renderWebVtt(captionCues(transcripts)));
  await writeFile(textPath, renderText({ title: `Transcript of the call in ${input.roomName ?? manifest.roomId}`, startedAt: segmentStart(manifest, input.segment), recogniser: input.recogniser.name }, transcripts));

  const segment = manifest.segments.find((s) => s.index === input.segment);
  const durationMs = segment?.durationMs ?? 0;
  manifest.files.push(await describeFile(captionsPath, { kind: 'captions', segment: input.segment, durationMs }), await describeFile(textPath, { kind: 'transcript', segment: input.segment, durationMs }));
  manifest.transcript = entry;
  await writeManifest(input.dir, manifest);

  if (input.sink) {
    const folder = basename(input.dir);
    try {
      await input.sink.store(
        [
          { path: captionsPath, name: `${folder}/${basename(captionsPath)}` },
          { path: textPath, name: `${folder}/${basename(textPath)}` },
          { path: input.manifestPath, name: basename(input.manifestPath) },
        ],
        { roomId: manifest.roomId, sessionId: manifest.sessionId, startedAt: Date.parse(manifest.startedAt) },
      );
    } catch (err) {
      log.error({ err, sink: input.sink.name }, 'archiving the transcript failed');
      problems.push(`archiving the transcript failed: ${describeError(err)}`);
    }
  }

  let uploads: UploadOutcome[] = [];
  if (input.upload) {
    uploads = await uploadToRoom({ ...input.upload, roomId: manifest.roomId, log }, [
      { path: captionsPath, mimetype: 'text/vtt', msgtype: 'm.file', caption: 'Captions of the recording (WebVTT, each line with its speaker)' },
      { path: textPath, mimetype: 'text/plain', msgtype: 'm.file', caption: 'Transcript of the recording' },
    ]);
    for (const u of uploads) if (!u.uploaded) problems.push(`${basename(u.path)} was not uploaded: ${u.reason}`);
  }
  return { captionsPath, textPath, entry, uploads, problems, ...(cpuMs !== undefined ? { cpuMs } : {}) };
}

/** The room's message about the transcript. */
export function transcriptNotice(report: TranscriptReport): string {
  const speakers = report.entry.speakers.filter((s) => !s.error);
  const words = speakers.reduce((sum, s) => sum + s.words, 0);
  const lines = [
    `Transcript: ${words} word${words === 1 ? '' : 's'} from ${speakers.length} speaker${speakers.length === 1 ? '' : 's'}, each from their own audio (recognised by ${report.entry.recogniser})` +
      `${report.uploads.some((u) => u.uploaded) ? '; captions and text attached above' : ''}.`,
  ];
  if (report.problems.length > 0) lines.push(`Problems: ${report.problems.join('; ')}.`);
  return lines.join('\n');
}

const shifted = (u: Utterance, ms: number): Utterance =>
  ms === 0 ? u : { ...u, startMs: u.startMs + ms, endMs: u.endMs + ms, words: u.words.map((w) => ({ ...w, startMs: w.startMs + ms, endMs: w.endMs + ms })) };

const segmentStart = (manifest: Manifest, index: number) => manifest.segments.find((s) => s.index === index)?.startedAt ?? manifest.startedAt;

/**
 * CPU time (user + system, ms) of this process's finished children, from /proc/self/stat: the
 * recogniser's ffmpeg runs as a child, so the difference around one speaker is that speaker's cost
 * (plus any other child that happened to end meanwhile). Undefined where there is no /proc: the
 * figure is only logged, so a platform without it simply has none.
 */
function childrenCpuMs(): number | undefined {
  if (!existsSync('/proc/self/stat')) return undefined;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of stat(5) (cutime, cstime), counted from field 3 here; in USER_HZ (100/s on Linux).
  return (Number(fields[13]) + Number(fields[14])) * 10;
}
