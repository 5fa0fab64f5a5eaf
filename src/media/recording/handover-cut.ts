// Where a hand-over cuts. The worker taking a session over and the one handing it over both record
// the moment the taker's recording carried the call's media (wall clock); each turns that moment
// into an offset in its own files. Both clocks place audio at the time it was heard, so the two
// offsets name the same instant, and the overlap between them can be played from either segment.
import type { ManifestSegment } from './manifest.ts';

/**
 * The offset in a segment's files of wall-clock time `at`, from what is written now: `writtenMs`
 * of files whose next chunk is the one heard at `nextHeardAt`. Paused spans (not written) before
 * now are accounted for. A moment the clock has not reached yet (it runs a prebuffer behind wall
 * time) lies past what is written: it will be written there.
 */
export function fileOffsetAt(at: number, writtenMs: number, nextHeardAt: number): number {
  return Math.round(Math.max(0, writtenMs - (nextHeardAt - at)));
}

export interface PlaySpan {
  index: number;
  dir: string;
  fromMs: number;
  untilMs: number;
}

/**
 * How a session's segments play as one recording: each segment's files from its `playFromMs` (0
 * unless it took over) up to its `playUntilMs` (its length unless it handed over), in order. A
 * crash leaves a gap between segments instead; there is nothing to cut there.
 */
export function stitchPlan(segments: ReadonlyArray<Pick<ManifestSegment, 'index' | 'dir' | 'durationMs' | 'playFromMs' | 'playUntilMs'>>): PlaySpan[] {
  return [...segments]
    .sort((a, b) => a.index - b.index)
    .map((s) => {
      const fromMs = Math.min(s.playFromMs ?? 0, s.durationMs);
      const untilMs = Math.max(fromMs, Math.min(s.playUntilMs ?? s.durationMs, s.durationMs));
      return { index: s.index, dir: s.dir, fromMs, untilMs };
    });
}

export interface OverlapMatch {
  /** How far (in samples) the later segment's audio lies behind where its clock put it: add to its cut. */
  lag: number;
  /** Normalised correlation at that lag (1: the same audio). */
  score: number;
  /** The best score at least `uniqueness` samples away from it: close to `score` means the match is ambiguous (a steady tone, silence). */
  runnerUp: number;
}

/**
 * Finds where `reference` (the earlier segment's audio from its cut on) lies in `search` (the later
 * segment's audio from `maxLag` before its cut to `maxLag` after the reference's length), by
 * normalised cross-correlation at each lag in [-maxLag, maxLag]. Both clocks place audio at the time
 * it was heard, but each receiver's own delay differs by some tens of ms; the audio itself says by how much.
 */
export function matchOverlap(reference: Int16Array, search: Int16Array, maxLag: number, uniqueness: number): OverlapMatch {
  const n = reference.length;
  if (search.length < n + 2 * maxLag) throw new Error(`the search window holds ${search.length} samples, fewer than the ${n + 2 * maxLag} the lags need`);
  let refEnergy = 0;
  for (let i = 0; i < n; i++) refEnergy += reference[i]! * reference[i]!;
  // The search window's energy under the reference, kept running as the lag moves.
  let energy = 0;
  for (let i = 0; i < n; i++) energy += search[i]! * search[i]!;
  const scores = new Float64Array(2 * maxLag + 1);
  for (let k = 0; k <= 2 * maxLag; k++) {
    if (k > 0) energy += search[k + n - 1]! * search[k + n - 1]! - search[k - 1]! * search[k - 1]!;
    let dot = 0;
    for (let i = 0; i < n; i++) dot += reference[i]! * search[k + i]!;
    const norm = Math.sqrt(refEnergy * Math.max(energy, 0));
    scores[k] = norm > 0 ? dot / norm : 0;
  }
  let best = 0;
  for (let k = 1; k < scores.length; k++) if (scores[k]! > scores[best]!) best = k;
  let runnerUp = -1;
  for (let k = 0; k < scores.length; k++) if (Math.abs(k - best) >= uniqueness) runnerUp = Math.max(runnerUp, scores[k]!);
  return { lag: best - maxLag, score: scores[best]!, runnerUp };
}
