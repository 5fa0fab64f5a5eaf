// ffmpeg input arguments for the raw media the recorder pipes in (pure): PCM and I420 pictures whose
// format is given whole on the command line. ffmpeg still probes an input before it reads the next
// one, and for s16le that took ~1 s: a second input (the composite's audio after its picture) was
// opened only then, and no picture was read meanwhile, so the first second of frames piled up in the
// recorder and some were dropped. With nothing to learn, the probe is cut to its minimum.
import type { PcmFormat } from './audio-args.ts';
import { inputPipe } from './process.ts';

/** ffmpeg's smallest probe: for inputs that say what they hold before any media. */
export const NO_PROBE = ['-probesize', '32', '-analyzeduration', '0'];
/** Packets ffmpeg's reading thread may hold for its encoder: a pipe read ahead, not a reason to stall. */
export const READ_AHEAD = ['-thread_queue_size', '512'];

/** Raw s16le PCM on input pipe `pipe`. */
export function rawPcmInput(format: PcmFormat, pipe = 0): string[] {
  return [...READ_AHEAD, ...NO_PROBE, '-f', 's16le', '-ar', String(format.sampleRate), '-ac', String(format.channels), '-i', inputPipe(pipe)];
}

/** Raw pictures of one size and pixel format on input pipe `pipe`, at `fps`. */
export function rawVideoInput(video: { width: number; height: number; fps: number }, pixFmt: string, pipe = 0): string[] {
  return [...READ_AHEAD, ...NO_PROBE, '-f', 'rawvideo', '-pix_fmt', pixFmt, '-s', `${video.width}x${video.height}`, '-framerate', String(video.fps), '-i', inputPipe(pipe)];
}
