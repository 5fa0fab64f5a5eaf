// The call's one audio clock, shared by every output: each received track pushes PCM into its
// speaker's jitter buffer, and every CHUNK_MS the clock takes one chunk per speaker (silence where
// a speaker has nothing), mixes them once and hands the same tick to every subscriber (the
// recording's stems and mix, each live stream, later the phone legs). Outputs that share the
// clock share its time axis, so whatever they write lines up sample for sample.
import type { AudioFrame } from '@livekit/rtc-node';
import type { Logger } from '../observability/logger.ts';
import { RECORD_ALL, type MediaPolicy } from './media-policy.ts';
import { chunksDue, CHUNK_MS, CHUNK_SAMPLES, DEFAULT_TIMELINE, JitterBuffer, mixChunks, SAMPLE_RATE, type TimelineOptions } from '../media/recording/audio-timeline.ts';

export interface Speaker {
  /** Stable key (Matrix user+device, or the LiveKit identity): a rejoin continues the same stem. */
  key: string;
  /** File-safe label used in a stem's name. */
  label: string;
  userId?: string;
  deviceId?: string;
}

/** One 20 ms step of the call: every known speaker's chunk (undefined: silence) and their mix. */
export interface AudioTick {
  /** Counts from the clock's start; a subscriber's own time zero is the tick it first saw. */
  index: number;
  /** When this chunk was heard (wall clock, ms): index * CHUNK_MS after the clock's start. */
  heardAt: number;
  /** The recording is paused: every chunk is silence and outputs that keep media skip the tick. */
  paused: boolean;
  mixed: Int16Array;
  speakers: ReadonlyArray<{ speaker: Speaker; chunk: Int16Array | undefined }>;
}

export type AudioSubscriber = (tick: AudioTick) => void;

interface SpeakerState {
  speaker: Speaker;
  buffer: JitterBuffer;
  /** Tracks of this speaker whose frames are still coming (a rejoin may overlap the old track's end). */
  tracks: number;
}

export interface CallAudioOptions {
  log: Logger;
  timeline?: TimelineOptions;
  /** Who and what may be heard (pause, consent); default: everything. */
  policy?: MediaPolicy;
  now?: () => number;
}

/** Chunks after running dry during which a track still counts as part of a stall that others join. */
const STAGGER_CHUNKS = 3;

/** How long finishing waits for the tracks' frames to end after the connections closed. */
export const PUMPS_END_WAIT_MS = 5_000;

export class CallAudio {
  readonly #log: Logger;
  readonly #timeline: TimelineOptions;
  readonly #now: () => number;
  readonly #policy: MediaPolicy | undefined;
  readonly #speakers = new Map<string, SpeakerState>();
  readonly #pumps = new Set<Promise<void>>();
  readonly #subscribers = new Set<AudioSubscriber>();
  #startedAt = 0;
  #emitted = 0;
  /** How much later than its prebuffer the clock plays out, from waiting out stalls (#waitsOutStall). */
  #stallDelayMs = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #catchUp: ReturnType<typeof setImmediate> | undefined;

  constructor(opts: CallAudioOptions) {
    this.#log = opts.log.child({ module: 'call-audio' });
    this.#timeline = opts.timeline ?? DEFAULT_TIMELINE;
    this.#now = opts.now ?? Date.now;
    this.#policy = opts.policy;
  }

  /** Wall-clock time of tick 0. */
  get startedAt(): number {
    return this.#startedAt;
  }

  /** The index the next tick will have. */
  get nextIndex(): number {
    return this.#emitted;
  }

  get speakers(): Speaker[] {
    return [...this.#speakers.values()].map((s) => s.speaker);
  }

  start(): void {
    this.#startedAt = this.#now();
    this.#timer = setInterval(() => this.#tick(), CHUNK_MS / 2);
  }

  /** Adds an output; returns its unsubscribe. */
  subscribe(subscriber: AudioSubscriber): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Feeds a received track into its speaker's buffer (the speaker is created on first use). */
  addTrack(speaker: Speaker, frames: AsyncIterable<AudioFrame>): void {
    const state = this.#speakerState(speaker);
    state.tracks++;
    const pump = (async () => {
      for await (const frame of frames) {
        if (frame.sampleRate !== SAMPLE_RATE || frame.channels !== 1) {
          this.#log.error({ speaker: speaker.key, sampleRate: frame.sampleRate, channels: frame.channels }, 'unexpected PCM format; dropping the track');
          return;
        }
        state.buffer.push(frame.data);
      }
    })()
      .catch((err: unknown) => this.#log.error({ err, speaker: speaker.key }, 'audio track failed'))
      .finally(() => state.tracks--);
    this.#pumps.add(pump);
    void pump.finally(() => this.#pumps.delete(pump));
  }

  #speakerState(speaker: Speaker): SpeakerState {
    let state = this.#speakers.get(speaker.key);
    if (!state) {
      state = { speaker, buffer: new JitterBuffer(this.#timeline), tracks: 0 };
      this.#speakers.set(speaker.key, state);
    }
    return state;
  }

  #tick(): void {
    const due = this.#due();
    if (due <= 1) return this.#emitDue();
    // Late by more than a chunk: the event loop was blocked (an Olm burst, a collection), and the
    // frames received meanwhile wait in rtc-node's queue behind this timer. Catching up after the
    // poll phase lets them reach the buffers first, so the stall costs no audio.
    this.#catchUp ??= setImmediate(() => {
      this.#catchUp = undefined;
      this.#emitDue();
    });
  }

  /** Chunks due now. Audio waits a prebuffer before it plays out, so the chunk emitted at offset t is emitted at t + prebuffer: audio heard at wall time W lands at W - startedAt. */
  #due(): number {
    return chunksDue(this.#startedAt + this.#timeline.prebufferMs + this.#stallDelayMs, this.#now(), this.#emitted);
  }

  #emitDue(waitOutStalls = true): void {
    const due = this.#due();
    for (let i = 0; i < due && !(waitOutStalls && this.#waitsOutStall()); i++) this.#emitChunk();
    for (const state of this.#speakers.values()) state.buffer.trim(this.#stallDelayMs);
  }

  /**
   * Most tracks that are playing (half of them, two or more) ran dry at once. No peer's network does that (libwebrtc conceals
   * a lost packet with a decoded frame all the same): the frames are held up on their way here,
   * by this process (a call's tracks being subscribed and its keys arriving, an ffmpeg spawned)
   * or by rtc-node's delivery. Silence in their place would be a gap in every stem, followed by
   * audio played that much later; so the clock waits for them instead, a chunk at a time, and plays
   * out that much later from then on, up to maxStallDelayMs in all.
   */
  #waitsOutStall(): boolean {
    if (this.#stallDelayMs >= this.#timeline.maxStallDelayMs) return false;
    let playing = 0;
    let dry = 0;
    for (const { buffer, tracks } of this.#speakers.values()) {
      if (tracks === 0) continue;
      // A track that ran dry a chunk or two before is in the same stall: tracks seldom run dry on the same tick.
      const justRanDry = buffer.dryFor > 0 && buffer.dryFor <= STAGGER_CHUNKS;
      if (!buffer.playing && !justRanDry) continue;
      playing++;
      if (justRanDry || buffer.bufferedSamples === 0) dry++;
    }
    // One track alone running dry may be its speaker leaving, which nothing will fill.
    if (dry < 2 || dry * 2 < playing) return false;
    this.#stallDelayMs += CHUNK_MS;
    if (this.#stallDelayMs >= this.#timeline.maxStallDelayMs) this.#log.warn({ stallDelayMs: this.#stallDelayMs }, 'the audio clock waited out stalls as long as it may; it plays audio that comes later as silence from now on');
    return true;
  }

  #emitChunk(): void {
    const heardAt = this.#startedAt + this.#emitted * CHUNK_MS;
    // Judged by the state when the chunk was heard; what must not be kept is dropped here, before
    // the mix and before any output sees it (the buffers are still drained, so the clock stays put).
    const policy = this.#policy?.at(heardAt) ?? RECORD_ALL;
    const speakers = [...this.#speakers.values()].map((s) => {
      const chunk = s.buffer.take(CHUNK_SAMPLES, this.#stallDelayMs);
      return { speaker: s.speaker, chunk: policy.paused || !policy.records(s.speaker.userId) ? undefined : chunk };
    });
    const tick: AudioTick = { index: this.#emitted, heardAt, paused: policy.paused, mixed: mixChunks(speakers.map((s) => s.chunk)), speakers };
    this.#emitted++;
    for (const subscriber of this.#subscribers) {
      try {
        subscriber(tick);
      } catch (err) {
        // An output that fails never stops the clock for the others.
        this.#log.error({ err }, 'an audio output failed on a tick; the others go on');
      }
    }
  }

  /** Stops the clock after playing out what waits in the prebuffers (it was heard before the stop). */
  async finish(): Promise<void> {
    clearInterval(this.#timer);
    clearImmediate(this.#catchUp);
    // The tracks are ending: nothing is on its way any more.
    this.#emitDue(false);
    // Every track's frames end when its connection closes; one that never ends (seen for a track of
    // an SFU connection the SDK resumed after we had closed it) must not hold the recording open.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = await Promise.race([
      Promise.all(this.#pumps).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), PUMPS_END_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!waited) this.#log.warn({ tracks: this.#pumps.size, waitedMs: PUMPS_END_WAIT_MS }, 'audio tracks did not end with their connections; finishing without them');
    for (let i = 0; i < (this.#timeline.prebufferMs + this.#stallDelayMs) / CHUNK_MS; i++) this.#emitChunk();
    // What each track lost to late or dropped audio (the benchmark reads this line).
    const tracks = [...this.#speakers.values()].map((s) => ({ speaker: s.speaker.label, ...s.buffer.stats }));
    this.#log.info({ chunks: this.#emitted, stallDelayMs: this.#stallDelayMs, tracks }, 'audio clock finished');
  }
}
