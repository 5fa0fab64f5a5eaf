// The live streams of one call: at most one LiveStream per kind (audio, video), fed from the
// call's shared clock and picture, each sending to any number of destinations. A second
// destination of the same kind joins the running encode instead of encoding again; a stream left
// without destinations stops and gives its encode back. The encodes are leased from the call's
// shared encoders, so a recording of the same settings takes the same one (shared-encoders.ts).
import { mkdirSync } from 'node:fs';
import type { Call } from '../../call/call.ts';
import type { Config } from '../../config/schema.ts';
import type { OutputProgress } from '../../jobs/queues.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Destination } from './destination.ts';
import { LiveStream, type DestinationStatus, type StreamEvent, type StreamKind } from './live-stream.ts';
import { PCM_48K_MONO } from '../../media/ffmpeg/audio-args.ts';
import type { EncodeSettings } from './stream-args.ts';
import { SharedEncoders, type EncoderLease } from './shared-encoders.ts';

interface Running {
  stream: LiveStream;
  lease: EncoderLease;
  detach: Array<() => void>;
}

/** The encode a stream of `kind` wants: a recording with `recording.shareVideoEncoder` asks for the same (recording-output.ts). */
export function streamEncodeSettings(config: Config, video: { width: number; height: number; fps: number } | undefined): EncodeSettings {
  const { streaming } = config;
  return {
    audio: PCM_48K_MONO,
    audioBitrateKbps: streaming.audioBitrateKbps,
    ...(video ? { video: { width: video.width, height: video.height, fps: video.fps, bitrateKbps: streaming.videoBitrateKbps } } : {}),
  };
}

export class CallStreams {
  readonly #call: Call;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #onEvent: (event: StreamEvent, kind: StreamKind) => void;
  readonly #streams = new Map<StreamKind, Running>();
  readonly #encoders: SharedEncoders;

  constructor(call: Call, config: Config, onEvent: (event: StreamEvent, kind: StreamKind) => void, log: Logger, encoders?: SharedEncoders) {
    this.#call = call;
    this.#config = config;
    this.#onEvent = onEvent;
    this.#log = log.child({ output: 'streams' });
    this.#encoders = encoders ?? SharedEncoders.forCall(call, config.recording.ffmpegPath, this.#log);
  }

  /** Sends the call's media of `kind` to one more destination. */
  add(kind: StreamKind, destination: Destination): void {
    if (kind === 'video' && !this.#call.video) {
      throw new Error('this session joined the call without video: stop it and start again with a video output');
    }
    // ffmpeg's HLS muxer writes into the folder but does not create it.
    if (destination.kind === 'hls') mkdirSync(destination.directory, { recursive: true });
    this.#running(kind).stream.addDestination(destination);
  }

  /** Stops one destination; a stream with none left stops. Returns whether it was there. */
  async remove(kind: StreamKind, name: string): Promise<boolean> {
    const running = this.#streams.get(kind);
    if (!running) return false;
    const removed = await running.stream.removeDestination(name);
    if (running.stream.destinationNames.length === 0) await this.#stop(kind);
    return removed;
  }

  status(): Array<{ kind: StreamKind; destination: DestinationStatus }> {
    return [...this.#streams].flatMap(([kind, r]) => r.stream.status().destinations.map((destination) => ({ kind, destination })));
  }

  /** Each destination as `!status` shows it. */
  progress(labelOf: (kind: StreamKind, name: string) => string): OutputProgress[] {
    return this.status().map(({ kind, destination: d }) => {
      const base = { id: `stream:${d.name}`, label: labelOf(kind, d.name) };
      switch (d.state.phase) {
        case 'live':
          return { ...base, state: 'live', uptimeMs: d.uptimeMs, ...(d.bitrateKbps !== undefined ? { bitrateKbps: d.bitrateKbps } : {}) };
        case 'retrying':
          return { ...base, state: 'retrying', attempt: d.state.attempt, reason: d.state.reason };
        case 'failed':
          return { ...base, state: 'failed', reason: d.state.reason };
        case 'connecting':
          return { ...base, state: 'connecting', attempt: d.state.attempt };
        case 'stopped':
          return { ...base, state: 'stopped' };
      }
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#streams.keys()].map((kind) => this.#stop(kind)));
  }

  #running(kind: StreamKind): Running {
    const existing = this.#streams.get(kind);
    if (existing) return existing;
    const { streaming, recording } = this.#config;
    const video = this.#call.video;
    const lease = this.#encoders.lease(streamEncodeSettings(this.#config, kind === 'video' ? video?.format : undefined));
    const stream = new LiveStream({
      kind,
      shared: lease.encoder,
      audioBitrateKbps: streaming.audioBitrateKbps,
      videoBitrateKbps: streaming.videoBitrateKbps,
      policy: {
        initialDelayMs: streaming.retryInitialDelayMs,
        maxDelayMs: streaming.retryMaxDelayMs,
        giveUpAfterMs: streaming.giveUpAfterMs,
        stallTimeoutMs: streaming.stallTimeoutMs,
      },
      ffmpegPath: recording.ffmpegPath,
      log: this.#log,
    });
    const detach = [stream.onEvent((event) => this.#onEvent(event, kind))];
    stream.start();
    const running = { stream, lease, detach };
    this.#streams.set(kind, running);
    return running;
  }

  async #stop(kind: StreamKind): Promise<void> {
    const running = this.#streams.get(kind);
    if (!running) return;
    this.#streams.delete(kind);
    for (const detach of running.detach) detach();
    await running.stream.stop();
    await running.lease.release();
  }
}
