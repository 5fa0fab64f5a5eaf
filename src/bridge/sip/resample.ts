// Integer-ratio resampling between the bridge's 48 kHz and narrowband codec rates (8 kHz for G.711).
// A windowed-sinc low-pass FIR, run in polyphase form; both classes keep their filter history
// between calls, so a stream is resampled frame by frame without clicks at frame edges.

const TAPS_PER_PHASE = 16;

/** Low-pass FIR for `factor`: cutoff just under the low rate's Nyquist, Blackman window, unity DC gain. */
function lowPass(factor: number): Float64Array {
  const length = factor * TAPS_PER_PHASE;
  const cutoff = 0.45 / factor; // cycles per high-rate sample: 3.6 kHz at 48 kHz / 6
  const taps = new Float64Array(length);
  const centre = (length - 1) / 2;
  let sum = 0;
  for (let i = 0; i < length; i++) {
    const t = i - centre;
    const sinc = t === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * t) / (Math.PI * t);
    const window = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (length - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (length - 1));
    taps[i] = sinc * window;
    sum += taps[i]!;
  }
  for (let i = 0; i < length; i++) taps[i]! /= sum;
  return taps;
}

const clamp16 = (v: number) => (v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v));

/** High rate to low rate: filter, keep every `factor`-th sample. Input length must be a multiple of factor. */
export class Decimator {
  private readonly taps: Float64Array;
  private readonly factor: number;
  private history: Float64Array;

  constructor(factor: number) {
    if (!Number.isInteger(factor) || factor < 1) throw new Error(`resample factor must be a positive integer, got ${factor}`);
    this.factor = factor;
    this.taps = lowPass(factor);
    this.history = new Float64Array(this.taps.length - 1);
  }

  process(input: Int16Array): Int16Array {
    if (input.length % this.factor !== 0) throw new Error(`decimator input of ${input.length} samples is not a multiple of ${this.factor}`);
    const keep = this.history.length;
    const buf = new Float64Array(keep + input.length);
    buf.set(this.history);
    for (let i = 0; i < input.length; i++) buf[keep + i] = input[i]!;
    const out = new Int16Array(input.length / this.factor);
    const n = this.taps.length;
    for (let o = 0; o < out.length; o++) {
      const end = keep + (o + 1) * this.factor - 1; // newest input sample for this output
      let acc = 0;
      for (let k = 0; k < n; k++) acc += this.taps[k]! * buf[end - k]!;
      out[o] = clamp16(acc);
    }
    this.history = buf.slice(buf.length - keep);
    return out;
  }
}

/** Low rate to high rate: zero-stuff by `factor` and filter, computed per phase. */
export class Interpolator {
  private readonly phases: Float64Array[];
  private readonly factor: number;
  private history: Float64Array;

  constructor(factor: number) {
    if (!Number.isInteger(factor) || factor < 1) throw new Error(`resample factor must be a positive integer, got ${factor}`);
    this.factor = factor;
    const taps = lowPass(factor);
    // Phase p uses taps p, p+factor, p+2·factor…; the gain of `factor` restores the stuffed zeros' energy.
    this.phases = Array.from({ length: factor }, (_, p) => {
      const phase = new Float64Array(TAPS_PER_PHASE);
      for (let j = 0; j < TAPS_PER_PHASE; j++) phase[j] = taps[p + j * factor]! * factor;
      return phase;
    });
    this.history = new Float64Array(TAPS_PER_PHASE - 1);
  }

  process(input: Int16Array): Int16Array {
    const keep = this.history.length;
    const buf = new Float64Array(keep + input.length);
    buf.set(this.history);
    for (let i = 0; i < input.length; i++) buf[keep + i] = input[i]!;
    const out = new Int16Array(input.length * this.factor);
    for (let i = 0; i < input.length; i++) {
      for (let p = 0; p < this.factor; p++) {
        const phase = this.phases[p]!;
        let acc = 0;
        for (let j = 0; j < TAPS_PER_PHASE; j++) acc += phase[j]! * buf[keep + i - j]!;
        out[i * this.factor + p] = clamp16(acc);
      }
    }
    this.history = buf.slice(buf.length - keep);
    return out;
  }
}
