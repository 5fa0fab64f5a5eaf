// One clock for every audio output of a recording. Each received track pushes PCM into its own
// jitter buffer; every tick the timeline takes one chunk from each buffer (silence where a track
// has nothing: before a late join, after a leave, across a mute or a network gap) and hands the
// aligned chunks to the outputs. Because all outputs advance on the same tick, stems stay
// time-aligned with each other and with the mix, whatever the arrival jitter.

export const SAMPLE_RATE = 48_000;
export const CHUNK_MS = 20;
export const CHUNK_SAMPLES = (SAMPLE_RATE * CHUNK_MS) / 1000;

export interface TimelineOptions {
  /** Audio held back before a new track starts playing out, to absorb arrival jitter. */
  prebufferMs: number;
  /**
   * A buffer holding more than this once the clock has taken its chunks (bursts, clock drift) drops
   * its oldest audio down to the prebuffer.
   */
  maxBufferMs: number;
  /**
   * How much later, at most, the clock may come to play out while it waits out stalls in the
   * delivery of every track at once (see CallAudio): latency, never more than this, instead of
   * silence in place of audio that is on its way.
   */
  maxStallDelayMs: number;
}

/**
 * The stall wait is off (maxStallDelayMs 0): when a stall's frames never come, the wait moves every
 * later chunk that much early against the time it was heard, and a pause or an opt-out then cuts in
 * the wrong place (CI: 60 ms of waiting let a tone played only while paused into the mix at
 * -37.6 dB). It stays off until the clock gives the delay back when nothing arrives.
 */
export const DEFAULT_TIMELINE: TimelineOptions = { prebufferMs: 60, maxBufferMs: 400, maxStallDelayMs: 0 };

export interface TrackStats {
  receivedSamples: number;
  /** Audio dropped by the trim (a burst beyond the maximum), all but what was digital silence. */
  droppedSamples: number;
  /** Digital silence dropped by the trim (frames not decrypted yet): brought back on time, nothing lost. */
  droppedSilentSamples: number;
  underruns: number;
  /**
   * Chunks played out as silence between running dry and playing again: audio that came too late
   * for its chunk (a mute or a network gap that ends counts too; a gap that never ends does not).
   */
  lateChunks: number;
  /**
   * Chunks of such gaps that came back as digital silence: the silence put in place of frames not
   * decrypted yet (a call's first second or two, while its media keys arrive), a muted sender.
   * Silence played where silence was due: nothing one could hear came late.
   */
  silentGapChunks: number;
}

const samplesIn = (ms: number) => (ms * SAMPLE_RATE) / 1000;
const isDigitalSilence = (samples: Int16Array) => samples.every((sample) => sample === 0);

/** PCM of one track waiting to be played out, mono s16 at SAMPLE_RATE. */
export class JitterBuffer {
  readonly stats: TrackStats = { receivedSamples: 0, droppedSamples: 0, droppedSilentSamples: 0, underruns: 0, lateChunks: 0, silentGapChunks: 0 };
  #chunks: Int16Array[] = [];
  #hasPlayed = false;
  /** Silent chunks since the track ran dry; counted as late once it plays again. */
  #gapChunks = 0;
  #offset = 0;
  #buffered = 0;
  #playing = false;
  readonly #prebuffer: number;
  readonly #max: number;

  constructor(opts: Pick<TimelineOptions, 'prebufferMs' | 'maxBufferMs'> = DEFAULT_TIMELINE) {
    this.#prebuffer = samplesIn(opts.prebufferMs);
    this.#max = samplesIn(opts.maxBufferMs);
  }

  get bufferedSamples(): number {
    return this.#buffered;
  }

  /** Playing out (prebuffered and not run dry since). */
  get playing(): boolean {
    return this.#playing;
  }

  /** Chunks played as silence since it ran dry, while it has not played again (0 when playing or never played). */
  get dryFor(): number {
    return this.#playing || !this.#hasPlayed ? 0 : this.#gapChunks;
  }

  push(samples: Int16Array): void {
    this.#chunks.push(samples);
    this.#buffered += samples.length;
    this.stats.receivedSamples += samples.length;
  }

  /**
   * Drops the oldest audio down to the prebuffer when more than the maximum waits. The clock calls
   * this after taking the chunks that were due, not each push: audio that piled up while the event
   * loop was blocked (and the clock with it) is what the clock's catch-up then plays.
   * `extraMs`: how much later than the prebuffer the clock plays out (stalls it waited out): that
   * much more audio is meant to wait, so both marks move by it.
   */
  trim(extraMs = 0): void {
    const extra = samplesIn(extraMs);
    if (this.#buffered > this.#max + extra) this.#drop(this.#buffered - this.#prebuffer - extra);
  }

  /**
   * The next `n` samples, or undefined when the track has nothing to play (silence). A track starts
   * or resumes only once it holds the prebuffer and `extraMs` (see trim), else it would be placed
   * that much early against the others.
   */
  take(n: number, extraMs = 0): Int16Array | undefined {
    if (!this.#playing) {
      if (this.#buffered < this.#prebuffer + samplesIn(extraMs)) {
        if (this.#hasPlayed) this.#gapChunks++;
        return undefined;
      }
      this.#playing = true;
      this.#hasPlayed = true;
      if (this.#gapChunks > 0 && this.#silent()) this.stats.silentGapChunks += this.#gapChunks;
      else this.stats.lateChunks += this.#gapChunks;
      this.#gapChunks = 0;
    }
    if (this.#buffered === 0) {
      // Ran dry: wait for a fresh prebuffer so a resumed stream is not chopped into bits.
      this.#playing = false;
      this.stats.underruns++;
      this.#gapChunks = 1;
      return undefined;
    }
    const out = new Int16Array(n);
    let filled = 0;
    while (filled < n && this.#chunks.length > 0) {
      const head = this.#chunks[0]!;
      const count = Math.min(n - filled, head.length - this.#offset);
      out.set(head.subarray(this.#offset, this.#offset + count), filled);
      filled += count;
      this.#offset += count;
      if (this.#offset === head.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#buffered -= filled;
    return out; // a short final chunk is padded with zeros
  }

  /** Whether everything waiting is digital silence. */
  #silent(): boolean {
    return this.#chunks.every((chunk, i) => isDigitalSilence(chunk.subarray(i === 0 ? this.#offset : 0)));
  }

  #drop(n: number): void {
    let left = n;
    while (left > 0 && this.#chunks.length > 0) {
      const head = this.#chunks[0]!;
      const count = Math.min(left, head.length - this.#offset);
      if (isDigitalSilence(head.subarray(this.#offset, this.#offset + count))) this.stats.droppedSilentSamples += count;
      else this.stats.droppedSamples += count;
      this.#offset += count;
      left -= count;
      if (this.#offset === head.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#buffered -= n - left;
  }
}

/** Sums chunks with saturation into one mono chunk. */
export function mixChunks(chunks: Array<Int16Array | undefined>, n = CHUNK_SAMPLES): Int16Array {
  const sum = new Int32Array(n);
  for (const chunk of chunks) {
    if (!chunk) continue;
    for (let i = 0; i < n; i++) sum[i]! += chunk[i] ?? 0;
  }
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.max(-32768, Math.min(32767, sum[i]!));
  return out;
}

/**
 * How many chunks are due at `nowMs` for a timeline that started at `startMs` and has
 * emitted `emitted` chunks: timer callbacks come late and uneven; the count catches up.
 */
export const chunksDue = (startMs: number, nowMs: number, emitted: number) => Math.max(0, Math.floor((nowMs - startMs) / CHUNK_MS) - emitted);
