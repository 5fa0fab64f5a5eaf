// The remote recogniser: an OpenAI-compatible transcription endpoint that an organisation runs
// (`POST <url>/audio/transcriptions`, multipart, `response_format=verbose_json`), e.g. a Whisper
// server. The stem is sent re-encoded small (16 kHz mono Opus, about 11 MB an hour) so long calls
// stay under the usual upload limits; the API key goes only into the Authorization header.
import { spawn } from 'node:child_process';
import { MediaError, RecorderError } from '../errors.ts';
import { registerSecret } from '../observability/secrets.ts';
import { spreadWords, type RecognisedWord, type SpeechRecogniser, type Utterance } from './recogniser.ts';

export interface OpenAiEndpointOptions {
  /** Base URL of the API, e.g. `https://asr.example.org/v1`; `/audio/transcriptions` is appended. */
  url: string;
  apiKey: string;
  model: string;
  /** ISO-639-1 code; absent: the endpoint detects the language. */
  language?: string;
  timeoutMs: number;
  ffmpegPath: string;
}

/** The parts of a verbose_json response this reads (OpenAI's shape; other servers follow it). */
interface VerboseJson {
  text?: string;
  segments?: Array<{ start: number; end: number; text: string }>;
  words?: Array<{ word: string; start: number; end: number }>;
}

/** The request's form fields besides the file (pure, for tests and clarity). */
export function transcriptionFields(opts: Pick<OpenAiEndpointOptions, 'model' | 'language'>): Array<[string, string]> {
  return [
    ['model', opts.model],
    ['response_format', 'verbose_json'],
    ['timestamp_granularities[]', 'segment'],
    ['timestamp_granularities[]', 'word'],
    ...(opts.language ? [['language', opts.language] as [string, string]] : []),
  ];
}

/** Utterances from a verbose_json body: one per segment, with the word times inside it when the endpoint gave them. */
export function parseVerboseJson(body: unknown): Utterance[] {
  const json = body as VerboseJson;
  if (typeof json !== 'object' || json === null || !Array.isArray(json.segments)) {
    throw new RecorderError('the transcription endpoint answered without segments (is response_format=verbose_json supported?)', 'MRR_TRANSCRIPTION');
  }
  const words = (json.words ?? []).map((w): RecognisedWord => ({ word: w.word.trim(), startMs: Math.round(w.start * 1000), endMs: Math.round(w.end * 1000) }));
  return json.segments.flatMap((segment): Utterance[] => {
    const text = segment.text.replace(/\s+/g, ' ').trim();
    if (!text) return [];
    const [startMs, endMs] = [Math.round(segment.start * 1000), Math.round(segment.end * 1000)];
    const inside = words.filter((w) => w.startMs >= startMs && w.startMs < endMs);
    return [inside.length > 0 ? { startMs, endMs, text, words: inside, interpolated: false } : { startMs, endMs, text, words: spreadWords(text, startMs, endMs), interpolated: true }];
  });
}

export class OpenAiEndpointRecogniser implements SpeechRecogniser {
  readonly name: string;
  readonly #opts: OpenAiEndpointOptions;

  constructor(opts: OpenAiEndpointOptions) {
    registerSecret(opts.apiKey);
    this.#opts = opts;
    this.name = `${opts.model} at ${new URL(opts.url).host}`;
  }

  async transcribe(path: string, signal?: AbortSignal): Promise<Utterance[]> {
    const audio = await smallOpus(this.#opts.ffmpegPath, path, signal);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(audio)], { type: 'audio/ogg' }), 'speech.ogg');
    for (const [name, value] of transcriptionFields(this.#opts)) form.append(name, value);
    const url = `${this.#opts.url.replace(/\/+$/, '')}/audio/transcriptions`;
    const timeout = AbortSignal.timeout(this.#opts.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#opts.apiKey}` },
        body: form,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new RecorderError(`the transcription endpoint could not be reached: ${(err as Error).message}`, 'MRR_TRANSCRIPTION', { cause: err });
    }
    const text = await response.text();
    if (!response.ok) throw new RecorderError(`the transcription endpoint answered ${response.status}: ${text.slice(0, 300)}`, 'MRR_TRANSCRIPTION');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new RecorderError(`the transcription endpoint answered with something other than JSON: ${text.slice(0, 100)}`, 'MRR_TRANSCRIPTION');
    }
    return parseVerboseJson(body);
  }
}

/** The file as 16 kHz mono Opus in Ogg, in memory. */
function smallOpus(ffmpegPath: string, path: string, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', path, '-vn', '-ac', '1', '-ar', '16000', '-c:a', 'libopus', '-b:a', '24k', '-application', 'voip', '-f', 'ogg', 'pipe:1'];
    const child = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-1000)));
    child.once('error', (err) => reject(new MediaError(`ffmpeg could not run: ${err.message}`, null, null, { cause: err })));
    child.once('close', (code, sig) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new MediaError(`re-encoding ${path} for the transcription endpoint failed: ${stderr.trim() || `exit ${sig ?? code}`}`, code, sig))));
  });
}
