// Reads recorded audio back as PCM through ffmpeg, for FFT checks on what the bot wrote.
import { execFileSync } from 'node:child_process';

/** Decodes any audio file to mono 48 kHz signed 16-bit samples. */
export function decodeToPcm(path: string, ffmpegPath = 'ffmpeg'): Int16Array {
  const raw = execFileSync(ffmpegPath, ['-v', 'error', '-i', path, '-f', 's16le', '-ac', '1', '-ar', '48000', 'pipe:1'], { maxBuffer: 1 << 30 });
  return new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
}

/** Duration in seconds as ffprobe reads it from the container. */
export function probeDuration(path: string): number {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], { encoding: 'utf8' });
  return Number(out.trim());
}
