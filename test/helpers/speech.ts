// Finding a known utterance in received audio by its loudness contour: speech that went through
// Opus (or G.711) and a jitter buffer keeps the rhythm of its syllables even where the waveform
// changed, so the 20 ms RMS envelopes of what was sent and what was heard correlate.
import { rms } from './fft.ts';

const ENVELOPE_WINDOW = 960; // 20 ms at 48 kHz

export function envelope(pcm: Int16Array, window = ENVELOPE_WINDOW): Float64Array {
  const out = new Float64Array(Math.floor(pcm.length / window));
  for (let i = 0; i < out.length; i++) out[i] = rms(pcm.subarray(i * window, (i + 1) * window));
  return out;
}

/**
 * Where `reference` best fits inside `heard` (offset in 20 ms windows) and how well (Pearson
 * correlation of the envelopes there, 1 = the same contour).
 */
export function findUtterance(heard: Int16Array, reference: Int16Array): { offsetMs: number; correlation: number } {
  const h = envelope(heard);
  const r = envelope(reference);
  let best = { offsetMs: -1, correlation: -1 };
  for (let lag = 0; lag + r.length <= h.length; lag++) {
    const c = pearson(h.subarray(lag, lag + r.length), r);
    if (c > best.correlation) best = { offsetMs: lag * 20, correlation: c };
  }
  return best;
}

function pearson(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (a[i]! - ma) * (b[i]! - mb);
    va += (a[i]! - ma) ** 2;
    vb += (b[i]! - mb) ** 2;
  }
  return va === 0 || vb === 0 ? 0 : cov / Math.sqrt(va * vb);
}

/** Index (ms) of the first 20 ms window louder than `threshold` RMS, or -1. */
export function onsetMs(pcm: Int16Array, threshold = 500): number {
  const e = envelope(pcm);
  const i = e.findIndex((v) => v > threshold);
  return i < 0 ? -1 : i * 20;
}
