// ffmpeg arguments for a composite video whose picture was encoded elsewhere (a shared encode,
// src/outputs/stream/shared-encoders.ts): H.264 packets in FLV on stdin, copied as they are, and
// the recording's mixed PCM on a second pipe, encoded to Opus, into Matroska. The same file as
// compositeFileArgs makes, clusters closed about every second so a killed process leaves it playable.
import { inputPipe } from './process.ts';
import type { PcmFormat } from './audio-args.ts';
import { NO_PROBE, rawPcmInput, READ_AHEAD } from './raw-inputs.ts';

export function copiedVideoFileArgs(audio: PcmFormat, outputPath: string): string[] {
  return [
    // The sequence header comes first, so no probing is needed; a large probe would hold up the
    // audio pipe, which ffmpeg opens only after this one.
    ...READ_AHEAD, ...NO_PROBE,
    '-f', 'flv', '-i', inputPipe(0),
    ...rawPcmInput(audio, 1),
    '-map', '0:v', '-map', '1:a',
    // The picture's timestamps are the recording's own (written by the taker), not shifted to the
    // first packet: a picture that starts at a keyframe 1.4 s in stays 1.4 s after the sound's start.
    '-copyts',
    '-c:v', 'copy',
    '-c:a', 'libopus', '-b:a', '64k',
    '-f', 'matroska', '-cluster_time_limit', '1000', '-flush_packets', '1',
    '-y', outputPath,
  ];
}
