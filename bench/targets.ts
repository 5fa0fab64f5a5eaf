// Issue 12's targets, the benchmark's pass/fail: each judged only when the bench measured what it
// needs (the row of that kind and N, the joins, the concurrent recordings, the soak), so a partial
// run judges what it ran and names the rest as not measured. Pure, so it is unit-tested.

/** What a recording row gives the judging (bench/run.ts's RecordingRow has these and more). */
export interface JudgedRow {
  kind: 'audio' | 'video';
  peers: number;
  ratio: number;
  /** rtc-node's native threads and the ffmpeg children alone against the floor (the part of the ratio outside this repository's code). */
  outsideRatio?: number;
  /** CPU-s per second of recording, the recorder and its ffmpeg children. */
  cores: number;
  /** The recorder and its ffmpeg children, summed. */
  peakMiB: number;
  lateChunks: number;
  droppedChunks: number;
  writerDroppedChunks: number;
  /** Video: grid frames the composite's encoder did not take. */
  writerDroppedFrames?: number;
}

export interface Measured {
  rows: readonly JudgedRow[];
  joins?: { joins: number; p95FirstAudioMs: number };
  concurrent?: { recordings: number; peersEach: number; droppedChunks: number; writerDroppedChunks: number };
  soak?: { minutes: number; ownSlopeMiBPerMin: number; treeSlopeMiBPerMin: number };
}

export interface Verdict {
  target: string;
  /** What was measured, with its unit; undefined when the bench did not measure it. */
  measured?: string;
  /** 'reported': a figure the issue asks to see, without a limit. */
  result: 'met' | 'missed' | 'reported' | 'not measured';
}

/** The recording rows the targets need: what `npm run bench -- --targets` runs. */
export const TARGET_ROWS: ReadonlyArray<{ kind: 'audio' | 'video'; peers: number }> = [
  { kind: 'audio', peers: 10 },
  { kind: 'video', peers: 9 },
  { kind: 'audio', peers: 16 },
];

const AUDIO_N = 10;
const VIDEO_N = 9;
const PUBLISHERS_N = 16;

const fixed = (n: number) => n.toFixed(2);
/** A ratio, and the part of it that rtc-node and ffmpeg alone take when the row has it. */
const ratioOf = (r: JudgedRow) => `${fixed(r.ratio)}x${r.outsideRatio === undefined ? '' : ` (rtc-node and ffmpeg alone: ${fixed(r.outsideRatio)}x)`}`;
const dropped = (r: { droppedChunks: number; writerDroppedChunks: number }) => r.droppedChunks + r.writerDroppedChunks;

/**
 * Video's ratio counts only for a picture made at its rate: a composite whose encoder fell behind
 * (grid frames dropped) did less work than the floor, so a low ratio then is no gain.
 */
function videoRatio(video: JudgedRow | undefined): Verdict {
  const target = `video, ${VIDEO_N} cameras: at most 1.5x the floor, no grid frame dropped`;
  if (!video) return { target, result: 'not measured' };
  const dropped = video.writerDroppedFrames ?? 0;
  const measured = `${ratioOf(video)}${dropped > 0 ? `, ${dropped} grid frames dropped at the encoder` : ''}`;
  return { target, measured, result: video.ratio <= 1.5 && dropped === 0 ? 'met' : 'missed' };
}

/** Every target, judged against what was measured. */
export function judgeTargets(measured: Measured): Verdict[] {
  const row = (kind: 'audio' | 'video', peers: number) => measured.rows.find((r) => r.kind === kind && r.peers === peers);
  const limit = (target: string, value: number | undefined, show: (v: number) => string, ok: (v: number) => boolean): Verdict =>
    value === undefined ? { target, result: 'not measured' } : { target, measured: show(value), result: ok(value) ? 'met' : 'missed' };

  const audio = row('audio', AUDIO_N);
  const video = row('video', VIDEO_N);
  const sixteen = row('audio', PUBLISHERS_N);
  const { joins, concurrent, soak } = measured;
  return [
    limit(`audio, ${AUDIO_N} speakers: at most 2x the floor`, audio?.ratio, () => ratioOf(audio!), (v) => v <= 2),
    limit(`audio, ${AUDIO_N} speakers: at most 0.15 of a core all-in`, audio?.cores, fixed, (v) => v <= 0.15),
    limit(`audio, ${AUDIO_N} speakers: peak resident memory at most 300 MiB`, audio?.peakMiB, (v) => `${Math.round(v)} MiB`, (v) => v <= 300),
    videoRatio(video),
    limit(`audio, ${PUBLISHERS_N} publishers: no late audio chunks`, sixteen?.lateChunks, String, (v) => v === 0),
    limit(`audio, ${PUBLISHERS_N} publishers: no dropped audio chunks`, sixteen && dropped(sixteen), String, (v) => v === 0),
    limit(
      concurrent ? `${concurrent.recordings} recordings of ${concurrent.peersEach} at once: no dropped audio chunks` : 'concurrent recordings: no dropped audio chunks',
      concurrent && dropped(concurrent),
      String,
      (v) => v === 0,
    ),
    limit(
      joins ? `!record to first decrypted audio, p95 of ${joins.joins} joins under 1.5 s` : '!record to first decrypted audio: p95 under 1.5 s',
      joins?.p95FirstAudioMs,
      (v) => `${Math.round(v)} ms`,
      (v) => v < 1500,
    ),
    soak
      ? { target: `soak (${soak.minutes} min): resident memory's slope after the first minute`, measured: `${soak.ownSlopeMiBPerMin} MiB/min (with ffmpeg ${soak.treeSlopeMiBPerMin})`, result: 'reported' }
      : { target: "soak: resident memory's slope after the first minute", result: 'not measured' },
  ];
}

/** The verdicts that were measured, as a Markdown table, and a line naming those that were not (only a line when none was). */
export function targetsTable(verdicts: readonly Verdict[]): string {
  const judged = verdicts.filter((v) => v.result !== 'not measured');
  if (judged.length === 0) return 'None measured in this run (`npm run bench -- --targets` makes the recordings they need).';
  const unmeasured = verdicts.filter((v) => v.result === 'not measured').map((v) => v.target);
  const lines = ['| target | measured | result |', '| --- | --- | --- |', ...judged.map((v) => `| ${v.target} | ${v.measured} | ${v.result} |`)];
  if (unmeasured.length > 0) lines.push(`\nNot measured in this run: ${unmeasured.join('; ')}.`);
  return lines.join('\n');
}

/** The targets missed, for the bench's exit status. */
export const missedTargets = (verdicts: readonly Verdict[]) => verdicts.filter((v) => v.result === 'missed');
