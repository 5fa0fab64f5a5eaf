// Known sentences spoken by espeak-ng, for transcript tests: its Klatt voices, which pocketsphinx
// recognises far better than the default voice (measured: about 50 % against 85 % word errors).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A WAV file of `text` (espeak-ng's own rate, 22.05 kHz). */
export function speakToWav(text: string, voice = 'en-us+klatt', wordsPerMinute = 160): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mrr-speech-')), 'speech.wav');
  execFileSync('espeak-ng', ['-v', voice, '-s', String(wordsPerMinute), '-w', path, text]);
  return path;
}

/** `text` as mono s16 samples at 48 kHz (what a test peer publishes). */
export function speak48k(text: string, voice?: string, ffmpegPath = 'ffmpeg'): Int16Array {
  const raw = execFileSync(ffmpegPath, ['-v', 'error', '-i', speakToWav(text, voice), '-f', 's16le', '-ac', '1', '-ar', '48000', 'pipe:1'], { maxBuffer: 1 << 26 });
  return new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
}

/** First and last 10 ms window (ms) louder than -40 dBFS: where the speech in the samples begins and ends. */
export function speechSpan(samples: Int16Array, rate = 48_000): { startMs: number; endMs: number } {
  const win = rate / 100;
  const loud: number[] = [];
  for (let i = 0; (i + 1) * win <= samples.length; i++) {
    let sum = 0;
    for (let j = i * win; j < (i + 1) * win; j++) sum += samples[j]! * samples[j]!;
    if (Math.sqrt(sum / win) > 328) loud.push(i);
  }
  if (loud.length === 0) throw new Error('no speech in the samples');
  return { startMs: loud[0]! * 10, endMs: (loud.at(-1)! + 1) * 10 };
}

/** CPU time (user + system, ms) of this process's finished children, from /proc/self/stat (Linux): cutime + cstime in 1/100 s. */
export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}
