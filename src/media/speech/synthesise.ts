// Speech synthesised on this machine (espeak-ng, from Debian; nothing downloaded at run time),
// as the 48 kHz mono PCM that LiveKit tracks and the SIP legs carry. espeak-ng has voices for
// many languages, unlike ffmpeg's flite filter (English only); ffmpeg resamples its 22.05 kHz WAV.
import { spawn } from 'node:child_process';
import { RecorderError } from '../../errors.ts';

export const SPEECH_SAMPLE_RATE = 48_000;

export interface SpeechOptions {
  /** An espeak-ng voice: a language code such as `en`, `de`, `fr-fr` (`espeak-ng --voices` lists them). */
  language: string;
  /** Words per minute; espeak-ng's default is 175. */
  wordsPerMinute?: number;
}

/** Language codes look like `en`, `en-gb`, `pt-br`, `zh-yue`: refused early rather than passed to a command line. */
const LANGUAGE = /^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$/i;

export function speechLanguageProblem(language: string): string | undefined {
  return LANGUAGE.test(language) ? undefined : `"${language}" is not a language code such as en, de or pt-br`;
}

/** Speaks `text`; resolves with 48 kHz mono signed 16-bit samples. */
export async function synthesiseSpeech(text: string, opts: SpeechOptions): Promise<Int16Array> {
  const problem = speechLanguageProblem(opts.language);
  if (problem) throw new RecorderError(`cannot synthesise speech: ${problem}`, 'MRR_SPEECH');
  if (text.trim() === '') throw new RecorderError('cannot synthesise speech: the text is empty', 'MRR_SPEECH');
  const voice = spawn('espeak-ng', ['-v', opts.language, '-s', String(opts.wordsPerMinute ?? 175), '--stdout', '--', text], { stdio: ['ignore', 'pipe', 'pipe'] });
  const resample = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'wav', '-i', 'pipe:0', '-ar', String(SPEECH_SAMPLE_RATE), '-ac', '1', '-f', 's16le', 'pipe:1'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  voice.stdout.pipe(resample.stdin);
  // ffmpeg may exit before espeak-ng finishes writing (an error): that EPIPE is reported by ffmpeg's exit.
  resample.stdin.on('error', () => undefined);
  const chunks: Buffer[] = [];
  resample.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const [voiceResult, resampleResult] = await Promise.all([finished(voice, 'espeak-ng'), finished(resample, 'ffmpeg')]);
  for (const result of [voiceResult, resampleResult]) {
    if (result.code !== 0) {
      throw new RecorderError(`cannot synthesise speech in "${opts.language}": ${result.name} ${result.why}${result.stderr ? `: ${result.stderr}` : ''}`, 'MRR_SPEECH');
    }
  }
  const pcm = Buffer.concat(chunks);
  if (pcm.length < 2) throw new RecorderError(`cannot synthesise speech in "${opts.language}": espeak-ng produced no audio`, 'MRR_SPEECH');
  // Copied into an aligned buffer: Buffer.concat's memory may start at an odd offset.
  const samples = new Int16Array(Math.floor(pcm.length / 2));
  new Uint8Array(samples.buffer).set(pcm.subarray(0, samples.length * 2));
  return samples;
}

function finished(child: ReturnType<typeof spawn>, name: string): Promise<{ name: string; code: number | null; why: string; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.on('error', (err) => resolve({ name, code: -1, why: err.message.includes('ENOENT') ? 'is not installed' : err.message, stderr: '' }));
    child.on('close', (code, signal) => resolve({ name, code, why: `exited with ${code ?? signal}`, stderr: stderr.trim().slice(0, 300) }));
  });
}
