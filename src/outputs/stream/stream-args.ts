// ffmpeg arguments for live streams (pure). A stream is encoded ONCE, into FLV on stdout (H.264 +
// AAC, or AAC alone for audio-only streams); each destination is a separate ffmpeg that copies
// those packets, without re-encoding, to its ingest (FLV over RTMP, MPEG-TS over SRT, HLS files).
//
// Why not ffmpeg's `tee` muxer: with `onfail=ignore` a slave that fails is dropped for the rest of
// the process, so reconnecting one destination, or adding one, would restart the encoder and cut
// every other destination (their ingests see the publisher leave and come back; HLS gets a
// discontinuity). A copy process per destination costs a few MB of memory and well under 1% of a
// core, and a destination joins, drops or comes back without touching the others.
import type { PcmFormat } from '../../media/ffmpeg/audio-args.ts';
import { rawPcmInput, rawVideoInput } from '../../media/ffmpeg/raw-inputs.ts';
import type { VideoFormat } from '../../media/ffmpeg/video-args.ts';
import type { Destination } from './destination.ts';
import { i420Bytes } from '../../media/video/i420.ts';

export type StreamKind = 'audio' | 'video';

export interface EncodeSettings {
  audio: PcmFormat;
  audioBitrateKbps: number;
  /** Present for video streams: raw I420 frames of this size and rate. */
  video?: VideoFormat & { bitrateKbps: number };
}

/**
 * The raw pictures the encoders read: the call's picture as CallVideo hands it out. The one place
 * that knows its pixel format (with `RAW_PIX_FMT`); a change of CallVideo's format changes these two.
 */
export const RAW_PIX_FMT = 'yuv420p';
export const rawFrameBytes = (v: VideoFormat) => i420Bytes(v);

/**
 * The stream's one encode. Video: raw I420 on stdin (pipe:0) and PCM on pipe:3; audio-only: PCM
 * on stdin. Out: FLV on stdout, each packet flushed as it is muxed (latency over throughput).
 */
export function encoderArgs(settings: EncodeSettings): string[] {
  const pcmInput = (pipe: number) => rawPcmInput(settings.audio, pipe);
  // Stereo AAC: some ingests and players refuse or mishandle mono AAC.
  const audioOut = ['-c:a', 'aac', '-b:a', `${settings.audioBitrateKbps}k`, '-ac', '2'];
  const flvOut = ['-f', 'flv', '-flvflags', 'no_duration_filesize', '-flush_packets', '1', 'pipe:1'];
  const v = settings.video;
  if (!v) return [...pcmInput(0), '-map', '0:a', ...audioOut, ...flvOut];
  const kbps = v.bitrateKbps;
  return [
    ...rawVideoInput(v, RAW_PIX_FMT, 0),
    ...pcmInput(1),
    '-map', '0:v', '-map', '1:a',
    // Each picture leaves with its own timestamp (n/fps, never a duplicate or a drop): takers find
    // which picture a packet carries by it (stream-encoder.ts).
    '-fps_mode:v', 'passthrough',
    // zerolatency: no B-frames or lookahead (each frame leaves as soon as it is encoded). A keyframe
    // every 2 s, at fixed places (no scene-cut keyframes), as YouTube and HLS segmenters want;
    // bitrate capped with a one-second buffer: ingests expect a near-constant rate.
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-g', String(v.fps * 2), '-keyint_min', String(v.fps * 2), '-sc_threshold', '0',
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
    ...audioOut,
    ...flvOut,
  ];
}

/**
 * One destination: FLV on stdin, packets copied to the ingest. Progress (`total_size`, `out_time_us`)
 * goes to stdout twice a second, which is how a stall (no bytes leaving) is seen.
 */
export function relayArgs(destination: Destination): string[] {
  const input = [
    // The codec configuration comes first in what it is fed, so probing needs (almost) no data. A large
    // probe is not just a slow start: ffmpeg then stays behind a live pipe by what it probed (2 s at 32 KB).
    '-fflags', '+nobuffer', '-probesize', '32', '-analyzeduration', '0',
    '-f', 'flv', '-i', 'pipe:0',
    '-map', '0', '-c', 'copy',
  ];
  const progress = ['-progress', 'pipe:1', '-stats_period', '0.5', '-nostats'];
  switch (destination.kind) {
    case 'rtmp':
      return [...input, ...progress, '-f', 'flv', '-flvflags', 'no_duration_filesize', destination.url];
    case 'srt':
      // One PES packet per audio frame: by default the muxer gathers ~180 ms of AAC into one.
      return [...input, ...progress, '-f', 'mpegts', '-pes_payload_size', '0', '-flush_packets', '1', destination.url];
    case 'hls':
      return [
        ...input, ...progress,
        '-f', 'hls',
        '-hls_time', String(destination.segmentSeconds),
        '-hls_list_size', String(destination.listSize),
        // temp_file: a player never reads a half-written segment or playlist; append_list: a relay that
        // restarts continues the playlist (numbering and a discontinuity) instead of starting it over.
        '-hls_flags', 'delete_segments+independent_segments+temp_file+program_date_time+append_list',
        '-hls_segment_filename', `${destination.directory}/segment-%06d.ts`,
        `${destination.directory}/index.m3u8`,
      ];
  }
}
