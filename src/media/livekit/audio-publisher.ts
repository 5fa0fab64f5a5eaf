// One audio track we publish on a LiveKit connection (the bot's voice, a SIP caller's voice),
// encrypted with our own media key in E2EE calls: the key js-sdk generated and sends to the
// members over Olm, set in the connection's key provider under our own identity, and the sender
// pointed at its index at every rotation, as Element Call does.
//
// Frames are fed in real time through a small bounded queue. rtc-node's `captureFrame` resolves
// when the native side took the frame (backpressure from its own queue of SOURCE_QUEUE_MS); it
// has been reported to stall under Node 24 and to fail when that queue is full, so every capture
// is watched: a stall clears the native queue and is counted, a failure drops the frame and is
// counted, and neither stops the track.
import { AudioFrame, AudioSource, LocalAudioTrack, TrackPublishOptions, TrackSource, type Room } from '@livekit/rtc-node';
import type { Logger } from '../../observability/logger.ts';
import { setParticipantKey, useSenderKeyIndex } from './participant-keys.ts';

export const PUBLISH_SAMPLE_RATE = 48_000;
/** 10 ms at 48 kHz: the frame size WebRTC's audio pipeline works in. */
export const PUBLISH_FRAME_SAMPLES = 480;
/** The native source's queue; captureFrame blocks while it is full, which paces the feed. Every ms of it is latency for a live voice. */
const SOURCE_QUEUE_MS = 50;
/** A capture that has not returned in this long is a stall (a frame takes 10 ms). */
const STALL_MS = 1_000;

export interface PublisherStats {
  framesSent: number;
  /** Frames pushed while the bounded queue was full (a producer faster than real time). */
  framesDropped: number;
  /** Captures that did not return within STALL_MS. */
  stalls: number;
  /** Captures rtc-node refused (e.g. its queue full). */
  captureErrors: number;
}

interface Queued {
  samples: Int16Array;
  /** Part of a play() clip (never dropped to make room). */
  clip?: boolean;
  /** Resolves the play() whose last frame this is. */
  done?: () => void;
}

export interface AudioPublisherOptions {
  trackName: string;
  log: Logger;
  /**
   * Live frames push() may queue before the oldest are dropped. A backlog never drains by itself
   * (frames arrive and leave at the same rate), so whatever it holds is latency for good.
   */
  maxQueuedFrames?: number;
}

export class AudioPublisher {
  readonly #room: Room;
  readonly #source: AudioSource;
  readonly #trackSid: string;
  readonly #firstSubscriber: Promise<void>;
  readonly #identity: string;
  readonly #log: Logger;
  readonly #maxQueued: number;
  readonly #queue: Queued[] = [];
  readonly #stats: PublisherStats = { framesSent: 0, framesDropped: 0, stalls: 0, captureErrors: 0 };
  #wake: (() => void) | undefined;
  #closed = false;
  readonly #feeding: Promise<void>;

  private constructor(room: Room, source: AudioSource, trackSid: string, firstSubscriber: Promise<void>, opts: AudioPublisherOptions) {
    this.#room = room;
    this.#source = source;
    this.#trackSid = trackSid;
    this.#firstSubscriber = firstSubscriber;
    this.#identity = room.localParticipant!.identity;
    this.#log = opts.log.child({ track: opts.trackName });
    this.#maxQueued = opts.maxQueuedFrames ?? 10;
    this.#feeding = this.#feed();
  }

  /** Publishes a microphone track on a connected room. */
  static async publish(room: Room, opts: AudioPublisherOptions): Promise<AudioPublisher> {
    if (!room.localParticipant) throw new Error('cannot publish audio: the LiveKit room is not connected');
    const source = new AudioSource(PUBLISH_SAMPLE_RATE, 1, SOURCE_QUEUE_MS);
    const track = LocalAudioTrack.createAudioTrack(opts.trackName, source);
    // DTX off: a notice's pauses must not be cut into packet gaps that peers' jitter buffers stretch.
    const publication = await room.localParticipant.publishTrack(track, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE, dtx: false, red: false }));
    if (!publication.sid) {
      await source.close();
      throw new Error('cannot publish audio: LiveKit gave the track no sid');
    }
    return new AudioPublisher(room, source, publication.sid, publication.waitForSubscription(), opts);
  }

  /** Resolves once a member subscribed to the track (the SFU says so). */
  firstSubscriber(): Promise<void> {
    return this.#firstSubscriber;
  }

  get identity(): string {
    return this.#identity;
  }

  /**
   * Our own media key (E2EE calls), as js-sdk announces it: set under our identity, and the
   * sender moved to its index (js-sdk announces a rotated key when it is to be used).
   */
  useOwnKey(index: number, key: Uint8Array): void {
    setParticipantKey(this.#room, this.#identity, index, key);
    useSenderKeyIndex(this.#room, this.#identity, this.#trackSid, index);
    this.#log.info({ index }, 'own media key in use for our track');
  }

  /** Plays a clip (48 kHz mono); resolves when its last frame has left. */
  play(samples: Int16Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('cannot play audio: the track is closed'));
    return new Promise((resolve) => {
      const frames = splitFrames(samples);
      frames.forEach((frame, i) => this.#queue.push(i === frames.length - 1 ? { samples: frame, clip: true, done: resolve } : { samples: frame, clip: true }));
      if (frames.length === 0) resolve();
      this.#wake?.();
    });
  }

  /** Queues one live 10 ms frame (a SIP caller's voice); a full queue drops its oldest live frame (counted), keeping latency bounded. */
  push(samples: Int16Array): void {
    if (this.#closed) return;
    const live = this.#queue.filter((q) => !q.clip).length;
    if (live >= this.#maxQueued) {
      this.#queue.splice(this.#queue.findIndex((q) => !q.clip), 1);
      if (this.#stats.framesDropped++ % 100 === 0) this.#log.warn({ dropped: this.#stats.framesDropped }, 'live audio backs up; dropping the oldest frames to keep latency down');
    }
    this.#queue.push({ samples });
    this.#wake?.();
  }

  stats(): PublisherStats {
    return { ...this.#stats };
  }

  /** Stops feeding (queued frames are dropped, pending plays resolve) and unpublishes the track. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const queued of this.#queue.splice(0)) queued.done?.();
    this.#wake?.();
    await this.#feeding;
    await this.#room.localParticipant?.unpublishTrack(this.#trackSid).catch((err: unknown) => this.#log.debug({ err }, 'unpublishing our track failed (connection closing)'));
    await this.#source.close();
    this.#log.info(this.#stats, 'published track closed');
  }

  async #feed(): Promise<void> {
    while (!this.#closed) {
      const next = this.#queue.shift();
      if (!next) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      await this.#capture(next.samples);
      next.done?.();
    }
  }

  async #capture(samples: Int16Array): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), STALL_MS)));
    try {
      const outcome = await Promise.race([this.#source.captureFrame(new AudioFrame(samples, PUBLISH_SAMPLE_RATE, 1, samples.length)).then(() => 'sent' as const), stalled]);
      if (outcome === 'sent') this.#stats.framesSent++;
      else {
        this.#stats.stalls++;
        this.#log.warn({ stalls: this.#stats.stalls }, 'captureFrame did not return within a second; clearing the source queue');
        this.#source.clearQueue();
      }
    } catch (err) {
      if (this.#stats.captureErrors++ % 100 === 0) this.#log.warn({ err, errors: this.#stats.captureErrors }, 'rtc-node refused an audio frame');
    } finally {
      clearTimeout(timer);
    }
  }
}

/** 10 ms frames; the last one padded with silence. */
export function splitFrames(samples: Int16Array): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let at = 0; at < samples.length; at += PUBLISH_FRAME_SAMPLES) {
    const frame = new Int16Array(PUBLISH_FRAME_SAMPLES);
    frame.set(samples.subarray(at, at + PUBLISH_FRAME_SAMPLES));
    frames.push(frame);
  }
  return frames;
}
