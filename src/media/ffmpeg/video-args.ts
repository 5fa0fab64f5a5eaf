// ffmpeg arguments for the composite video (pure): raw I420 frames on stdin and the mixed PCM on
// a second pipe, to H.264 + Opus in Matroska. Matroska clusters are closed about every second, so
// a killed process leaves a file playable up to its last second.
import { rawPcmInput, rawVideoInput } from './raw-inputs.ts';
import type { PcmFormat } from './audio-args.ts';

export interface VideoFormat {
  width: number;
  height: number;
  fps: number;
}

export function compositeFileArgs(video: VideoFormat, audio: PcmFormat, outputPath: string): string[] {
  return [
    ...rawVideoInput(video, 'yuv420p', 0),
    ...rawPcmInput(audio, 1),
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-g', String(video.fps * 2), '-pix_fmt', 'yuv420p',
    '-c:a', 'libopus', '-b:a', '64k',
    '-f', 'matroska', '-cluster_time_limit', '1000', '-flush_packets', '1',
    '-y', outputPath,
  ];
}
