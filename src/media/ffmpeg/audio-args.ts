// ffmpeg argument builders (pure): what goes in and what comes out.
import { rawPcmInput } from './raw-inputs.ts';

export interface PcmFormat {
  sampleRate: number;
  channels: number;
}

export const PCM_48K_MONO: PcmFormat = { sampleRate: 48_000, channels: 1 };

/**
 * Raw s16le PCM on stdin to Opus in Ogg. Ogg pages are flushed about once a second
 * (`-page_duration`), so a killed process leaves a file playable up to its last second.
 */
export function opusFileArgs(format: PcmFormat, outputPath: string, opts: { leadMs?: number } = {}): string[] {
  const leadMs = opts.leadMs ?? 0;
  if (!Number.isInteger(leadMs) || leadMs < 0) throw new Error(`leading silence must be a whole number of ms >= 0, not ${leadMs}`);
  return [
    ...rawPcmInput(format),
    // Silence before the first sample (a speaker who joins late) is made by ffmpeg, in O(1) here.
    ...(leadMs > 0 ? ['-af', `adelay=delays=${leadMs}:all=1`] : []),
    ...OPUS_FILE_ENCODER,
    '-y', outputPath,
  ];
}

/** The Opus encoder of a recording's audio files; Ogg pages flushed about once a second. */
const OPUS_FILE_ENCODER = ['-c:a', 'libopus', '-b:a', '64k', '-application', 'audio', '-page_duration', '1000000', '-flush_packets', '1'];

/** One file of opusFilesArgs: its channel's first `trimChunks` chunks are left out, then `leadMs` of silence is put before it. */
export interface OpusChannelOutput {
  path: string;
  trimChunks: number;
  leadMs: number;
}

/**
 * Interleaved s16le PCM at 48 kHz on stdin, one channel per output, to one Ogg Opus file per
 * channel (the recording's mix and stems from one ffmpeg). A channel's samples before the file
 * began are trimmed away; its lead of silence (a speaker heard late) is made by ffmpeg.
 */
export function opusFilesArgs(outputs: OpusChannelOutput[], chunkSamples = 960): string[] {
  if (outputs.length === 0) throw new Error('an encoder of audio files needs at least one file');
  return [
    ...rawPcmInput({ sampleRate: 48_000, channels: outputs.length }),
    ...outputs.flatMap(({ path, trimChunks, leadMs }, channel) => {
      if (!Number.isInteger(leadMs) || leadMs < 0) throw new Error(`leading silence must be a whole number of ms >= 0, not ${leadMs}`);
      const filters = [
        `pan=mono|c0=c${channel}`,
        ...(trimChunks > 0 ? [`atrim=start_sample=${trimChunks * chunkSamples}`, 'asetpts=N/SR/TB'] : []),
        ...(leadMs > 0 ? [`adelay=delays=${leadMs}:all=1`] : []),
      ];
      return ['-map', '0:a', '-af', filters.join(','), ...OPUS_FILE_ENCODER, '-y', path];
    }),
  ];
}
