// ffmpeg argument builders (pure): what goes in and what comes out.

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
    '-f', 's16le', '-ar', String(format.sampleRate), '-ac', String(format.channels), '-i', 'pipe:0',
    // Silence before the first sample (a speaker who joins late) is made by ffmpeg, in O(1) here.
    ...(leadMs > 0 ? ['-af', `adelay=delays=${leadMs}:all=1`] : []),
    '-c:a', 'libopus', '-b:a', '64k', '-application', 'audio',
    '-page_duration', '1000000', '-flush_packets', '1',
    '-y', outputPath,
  ];
}
