// The local recogniser: ffmpeg's `asr` filter (pocketsphinx) with the English model that Debian
// packages (pocketsphinx-en-us), so nothing is downloaded at run time. One ffmpeg pass per stem:
// `silencedetect` marks where speech starts and stops, `asr` emits the words of each utterance
// when pocketsphinx decides it ended, and `ametadata` prints both, with frame times, on stdout.
// pocketsphinx through ffmpeg gives no word times, so they are spread over the utterance.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, MediaError } from '../errors.ts';
import { spreadWords, type SpeechRecogniser, type Utterance } from './recogniser.ts';

export interface PocketsphinxOptions {
  ffmpegPath: string;
  /** Debian's layout: `<modelDir>/en-us` (acoustic model), `cmudict-en-us.dict`, `en-us.lm.bin`. */
  modelDir: string;
}

// The asr filter ends an utterance half a second (vad_postspeech) into a pause; padding the end
// with silence lets the last one end, or its words would be lost.
const TAIL_PAD_S = 1;
// Quieter than this for this long is a pause between utterances. Stems hold digital zeros where the
// speaker was silent, so the threshold only has to sit under quiet speech.
const SILENCE = { noiseDb: -40, minSeconds: 0.3 };

/** ffmpeg's arguments (pure): the file in, metadata lines out on stdout, no audio written. */
export function pocketsphinxArgs(path: string, modelDir: string): string[] {
  // Filter option values would need escaping for ':' ',' '\'' and more; model paths need none of
  // that, so any other character is refused rather than escaped.
  if (!/^[A-Za-z0-9_./+-]+$/.test(modelDir)) throw new ConfigError('transcripts.modelDir', 'expected a path of letters, digits and _ . / + -');
  const filter = [
    // Opus decodes a silent speaker as ±1 LSB noise, not zeros; pocketsphinx's voice detection
    // then starts empty utterances in it and recognises the speech that follows badly (measured:
    // 95 % word errors on a stem, 30 % with the gate). Muting what is below -60 dBFS leaves speech alone.
    'agate=threshold=0.001:range=0:attack=1:release=50',
    `apad=pad_dur=${TAIL_PAD_S}`,
    `silencedetect=n=${SILENCE.noiseDb}dB:d=${SILENCE.minSeconds}`,
    `asr=hmm=${join(modelDir, 'en-us')}:dict=${join(modelDir, 'cmudict-en-us.dict')}:lm=${join(modelDir, 'en-us.lm.bin')}`,
    // ffmpeg's own stdout (`pipe:1`), its ':' escaped for the filter and again for the graph;
    // not /dev/stdout, which cannot be opened when stdout is a socket (as Node's pipes are).
    'ametadata=mode=print:file=pipe\\\\:1',
  ].join(',');
  return ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', path, '-vn', '-af', filter, '-f', 'null', '-'];
}

/**
 * Utterances from ametadata's print output: `frame:N pts:P pts_time:T` lines, each followed by
 * the `key=value` metadata of that frame. An utterance's text arrives on the frame where
 * pocketsphinx ended it (after the pause); it spans from the first speech onset since the
 * previous utterance to the last pause start before its text.
 */
export function parseAsrMetadata(output: string): Utterance[] {
  const utterances: Utterance[] = [];
  let frameS = 0;
  let onsetS: number | undefined; // first silence end since the last utterance
  let pauseS: number | undefined; // last silence start after that onset
  let boundaryS = 0; // where the previous utterance's text arrived
  for (const line of output.split('\n')) {
    const frame = /^frame:\d+\s+pts:-?\d+\s+pts_time:([\d.]+)/.exec(line);
    if (frame) {
      frameS = Number(frame[1]);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === 'lavfi.silence_end') {
      onsetS ??= Number(value);
      pauseS = undefined;
    } else if (key === 'lavfi.silence_start') {
      if (onsetS !== undefined) pauseS = Number(value);
    } else if (key === 'lavfi.asr.text') {
      const startS = onsetS ?? boundaryS;
      const endS = pauseS !== undefined && pauseS > startS ? pauseS : frameS;
      const text = value.replace(/\s+/g, ' ').trim();
      if (text) {
        const [startMs, endMs] = [Math.round(startS * 1000), Math.round(endS * 1000)];
        utterances.push({ startMs, endMs, text, words: spreadWords(text, startMs, endMs), interpolated: true });
      }
      boundaryS = frameS;
      onsetS = undefined;
      pauseS = undefined;
    }
  }
  return utterances;
}

export class PocketsphinxRecogniser implements SpeechRecogniser {
  readonly name = 'pocketsphinx (en-us)';
  readonly #opts: PocketsphinxOptions;

  constructor(opts: PocketsphinxOptions) {
    pocketsphinxArgs('x', opts.modelDir); // a bad model path fails here, at startup
    if (!existsSync(join(opts.modelDir, 'en-us', 'mdef'))) {
      throw new ConfigError('transcripts.modelDir', `no pocketsphinx model in ${opts.modelDir} (Debian's package pocketsphinx-en-us installs it in /usr/share/pocketsphinx/model/en-us)`);
    }
    this.#opts = opts;
  }

  transcribe(path: string, signal?: AbortSignal): Promise<Utterance[]> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.#opts.ffmpegPath, pocketsphinxArgs(path, this.#opts.modelDir), { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-2000)));
      child.once('error', (err) => reject(new MediaError(`ffmpeg (speech recognition) could not run: ${err.message}`, null, null, { cause: err })));
      child.once('close', (code, sig) => {
        if (code !== 0) return reject(new MediaError(`speech recognition of ${path} failed: ffmpeg exited with ${sig ?? `code ${code}`}: ${stderr.trim().split('\n').slice(-3).join(' | ') || '(no output)'}`, code, sig));
        resolve(parseAsrMetadata(stdout));
      });
    });
  }
}
