// The composite video of a recording, from the call's shared encode (recording.shareVideoEncoder):
// the picture is encoded once for the recording and any video stream of the same settings
// (shared-encoders.ts), and this file's ffmpeg only copies its H.264 packets beside the recording's
// own mixed audio (Opus), into the same Matroska file CompositeFile makes.
//
// Kept as CompositeFile keeps it: pictures of a paused span are left out (the encode goes on for the
// stream; PictureSlots leaves those packets out and goes on from the next keyframe, at most 2 s
// later, holding the last picture meanwhile); a stream added or removed never touches this file's
// ffmpeg or the encode's timing. Differs: the file starts at the encode's next keyframe (within
// 2 s; before it the picture is empty) when the encode was already running for a stream, an encoder
// that dies is restarted under the file (its span holds the last picture instead of a new part),
// and the picture is not padded to the audio's end (it ends with the last picture encoded).
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import { PCM_48K_MONO } from '../../media/ffmpeg/audio-args.ts';
import { BoundedWriter } from '../../media/ffmpeg/bounded-writer.ts';
import { copiedVideoFileArgs } from '../../media/ffmpeg/copied-video-args.ts';
import { startFfmpeg, type FfmpegProcess } from '../../media/ffmpeg/process.ts';
import { framesDropped } from '../../observability/metrics.ts';
import { FLV_HEADER_BYTES, TagType, type FlvTag } from '../stream/flv.ts';
import type { EncoderLease, SharedEncoders } from '../stream/shared-encoders.ts';
import type { EncodeSettings } from '../stream/stream-args.ts';
import { MAX_PENDING_AUDIO_BYTES } from './audio-files.ts';
import type { VideoResult } from './composite-file.ts';
import { PictureSlots } from './picture-slots.ts';

/** How long finishing waits for the packets of pictures already handed to the encoder (its latency is a few frames). */
const FINISH_WAIT_MS = 3_000;

export class SharedCompositeFile {
  readonly path: string;
  readonly #encoders: SharedEncoders;
  readonly #settings: EncodeSettings & { video: NonNullable<EncodeSettings['video']> };
  readonly #log: Logger;
  readonly #ffmpeg: FfmpegProcess;
  readonly #skip: () => boolean;
  readonly #slots = new PictureSlots();
  readonly #writers: [BoundedWriter, BoundedWriter];
  #lease: EncoderLease | undefined;
  #detach: Array<() => void> = [];
  #headerWritten = false;
  #config: Uint8Array | undefined;

  constructor(opts: { dir: string; ffmpegPath: string; encoders: SharedEncoders; settings: EncodeSettings; log: Logger; skip?: () => boolean }) {
    const { video } = opts.settings;
    if (!video) throw new Error('a composite video needs a video encode');
    this.#encoders = opts.encoders;
    this.#settings = { ...opts.settings, video };
    this.#skip = opts.skip ?? (() => false);
    this.#log = opts.log.child({ module: 'composite-file', shared: true });
    this.path = join(opts.dir, 'composite.mkv');
    this.#ffmpeg = startFfmpeg(copiedVideoFileArgs(PCM_48K_MONO, this.path), this.#log.child({ output: this.path }), opts.ffmpegPath, 2);
    // Five seconds of the encode's bitrate may wait for ffmpeg, like the audio beside it.
    const videoBytes = (video.bitrateKbps * 1000 * 5) / 8;
    this.#writers = [
      new BoundedWriter({ ffmpeg: this.#ffmpeg, input: 0, maxPendingBytes: videoBytes, log: this.#log, onDrop: (n) => framesDropped('recording_video', n) }),
      new BoundedWriter({ ffmpeg: this.#ffmpeg, input: 1, maxPendingBytes: MAX_PENDING_AUDIO_BYTES, log: this.#log, onDrop: (n) => framesDropped('recording_video_audio', n) }),
    ];
  }

  /** Joins the call's encode of these settings (starting it, or taking the one a stream runs). */
  start(): void {
    const lease = this.#encoders.lease(this.#settings);
    this.#lease = lease;
    this.#detach = [
      lease.onPicture((frame) => this.#slots.picture(frame, !this.#skip())),
      lease.encoder.take({
        tag: (tag, frame) => this.#onTag(tag, frame),
        restarted: () => {
          this.#log.warn('the shared encoder restarted; the picture goes on from its first keyframe');
          this.#slots.resync();
        },
      }),
    ];
  }

  /** The recording's mixed audio, muxed with the picture. */
  writeAudio(chunk: Int16Array): void {
    this.#writers[1].write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  #onTag(tag: FlvTag, frame: number | undefined): void {
    if (tag.type !== TagType.video || tag.config) return;
    const slot = this.#slots.packet(frame, tag.keyframe);
    if (slot === undefined) return;
    this.#writeHeaderAndConfig();
    const bytes = tag.bytes.slice(); // the tag is shared with the stream's destinations
    setTimestamp(bytes, Math.round((slot * 1000) / this.#settings.video.fps));
    if (!this.#writers[0].write(bytes)) this.#slots.resync();
  }

  /** Before the first packet: a video-only FLV header and the codec configuration; a new one after a restart if it changed. */
  #writeHeaderAndConfig(): void {
    const config = this.#lease!.encoder.videoConfig();
    if (!config) throw new Error('a video packet came before the encoder’s codec configuration');
    if (!this.#headerWritten) {
      this.#headerWritten = true;
      this.#writers[0].write(videoOnlyFlvHeader());
    } else if (this.#config && sameBytes(this.#config, config)) return;
    else this.#log.warn('the shared encoder’s codec configuration changed; writing the new one');
    this.#config = config;
    const tag = config.slice();
    setTimestamp(tag, 0);
    this.#writers[0].write(tag);
  }

  /** Ends the picture (the last packets of pictures already encoding are awaited, briefly) and finishes the file. */
  async finish(_durationMs: number): Promise<VideoResult> {
    const lease = this.#lease;
    this.#detach[0]?.(); // no more pictures wanted
    const until = Date.now() + FINISH_WAIT_MS;
    while (lease && this.#slots.pending > 0 && lease.encoder.state === 'running' && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const detach of this.#detach) detach();
    this.#slots.close();
    // Given back after the file took its last packet: a stream still running keeps the encode.
    await lease?.release().catch((err: unknown) => this.#log.error({ err }, 'stopping the shared encoder failed'));
    let error: string | undefined;
    await this.#ffmpeg.finish(Promise.all(this.#writers.map((w) => w.drained())).then(() => undefined)).catch((err: unknown) => {
      error = (err as Error).message;
    });
    error ??= this.#writers[0].error ?? this.#writers[1].error;
    const { fps } = this.#settings.video;
    const slots = this.#slots.slots;
    const written = this.#slots.written;
    const missing = slots - written;
    if (missing > 0) this.#log.info({ slots, written, lost: this.#slots.lost, waitedForKeyframe: this.#slots.waited }, 'pictures of the composite held from the one before');
    return { path: this.path, frames: written, durationMs: (slots * 1000) / fps, ...(missing > 0 ? { droppedFrames: missing } : {}), ...(error ? { error } : {}) };
  }
}

/** 'FLV', version 1, video only, header size 9, then PreviousTagSize0. */
function videoOnlyFlvHeader(): Uint8Array {
  const header = new Uint8Array(FLV_HEADER_BYTES);
  header.set([0x46, 0x4c, 0x56, 0x01, 0x01, 0x00, 0x00, 0x00, 0x09]);
  return header;
}

/** An FLV tag's timestamp: 24 bits big-endian at byte 4, the upper 8 bits at byte 7. */
export function setTimestamp(tag: Uint8Array, ms: number): void {
  tag[4] = (ms >>> 16) & 0xff;
  tag[5] = (ms >>> 8) & 0xff;
  tag[6] = ms & 0xff;
  tag[7] = (ms >>> 24) & 0xff;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
