// A hand-over's cut, checked against the audio. Both workers turn the same wall-clock moment into
// an offset in their files, but each receiver (its WebRTC jitter buffer, fresh or settled) delays
// the call's audio by its own tens of ms. The overlap holds the same audio twice: where it matches
// best is where the later segment really takes over. Audio that matches nowhere clearly (silence,
// a steady tone) keeps the clock's cut.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { matchOverlap } from '../../media/recording/handover-cut.ts';
import type { Logger } from '../../observability/logger.ts';

const run = promisify(execFile);

/** Compared at 8 kHz: enough for voices and cheap to correlate. */
const RATE = 8_000;
/** How much audio after the cut is compared (the earlier worker records about a second past it). */
const COMPARED_MS = 800;
const LEAST_COMPARED_MS = 300;
/** The receivers' delays differ by tens of ms; this is the most the audio may move the cut. */
const MAX_SHIFT_MS = 150;
/** A match counts when it is this good and clearly better than any other more than 10 ms away. */
const LEAST_SCORE = 0.7;
const LEAST_MARGIN = 0.05;
const UNIQUE_MS = 10;

async function decode(path: string, fromMs: number, ms: number, ffmpegPath: string): Promise<Int16Array> {
  const { stdout } = await run(ffmpegPath, ['-v', 'error', '-ss', (fromMs / 1000).toFixed(3), '-t', (ms / 1000).toFixed(3), '-i', path, '-ac', '1', '-ar', String(RATE), '-f', 's16le', 'pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 16 << 20,
  });
  return new Int16Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.byteLength / 2));
}

/**
 * Where the later segment's files take over (`playFromMs`), moved to where its audio matches the
 * earlier segment's at that one's cut (`playUntilMs`); unchanged when the audio does not tell.
 */
export async function alignHandoverCut(opts: { earlier: string; playUntilMs: number; later: string; playFromMs: number; ffmpegPath: string; log: Logger }): Promise<number> {
  const { earlier, playUntilMs, later, playFromMs, ffmpegPath, log } = opts;
  const maxShiftMs = Math.min(MAX_SHIFT_MS, playFromMs);
  try {
    const reference = await decode(earlier, playUntilMs, COMPARED_MS, ffmpegPath);
    const comparedMs = Math.floor((reference.length * 1000) / RATE);
    if (comparedMs < LEAST_COMPARED_MS) {
      log.info({ comparedMs }, 'the earlier segment ends too soon after the cut to check it against the audio; keeping the clock cut');
      return playFromMs;
    }
    const maxLag = Math.floor((maxShiftMs * RATE) / 1000);
    const search = await decode(later, playFromMs - maxShiftMs, comparedMs + 2 * maxShiftMs, ffmpegPath);
    if (search.length < reference.length + 2 * maxLag) {
      log.info({ playFromMs }, 'the later segment is too short to check the cut against the audio; keeping the clock cut');
      return playFromMs;
    }
    const match = matchOverlap(reference, search.subarray(0, reference.length + 2 * maxLag), maxLag, (UNIQUE_MS * RATE) / 1000);
    const shiftMs = Math.round((match.lag * 1000) / RATE);
    const clear = match.score >= LEAST_SCORE && match.score - match.runnerUp >= LEAST_MARGIN;
    log.info({ shiftMs, score: match.score.toFixed(3), runnerUp: match.runnerUp.toFixed(3), applied: clear }, clear ? 'hand-over cut moved to where the audio matches' : 'the audio does not tell where the cut matches; keeping the clock cut');
    return clear ? playFromMs + shiftMs : playFromMs;
  } catch (err) {
    log.warn({ err }, 'could not check the hand-over cut against the audio; keeping the clock cut');
    return playFromMs;
  }
}
