// The OpenAI-compatible backend against a small HTTP server in the test: the request's shape
// (multipart fields, the audio part, the bearer key) is checked, a canned verbose_json answers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiEndpointRecogniser, parseVerboseJson } from './openai-endpoint.ts';

const API_KEY = 'sk-test-0123456789abcdef';
const CANNED = {
  task: 'transcribe',
  language: 'english',
  duration: 4.2,
  text: 'Hello everyone. Let us begin.',
  segments: [
    { id: 0, seek: 0, start: 0.5, end: 1.7, text: ' Hello everyone.', tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0.01 },
    { id: 1, seek: 0, start: 2.0, end: 3.4, text: ' Let us begin.', tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0.01 },
  ],
  words: [
    { word: 'Hello', start: 0.5, end: 0.9 },
    { word: 'everyone.', start: 0.9, end: 1.7 },
    { word: 'Let', start: 2.0, end: 2.3 },
    { word: 'us', start: 2.3, end: 2.5 },
    { word: 'begin.', start: 2.5, end: 3.4 },
  ],
};

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  fields: Record<string, string[]>;
  file: { name: string; type: string; bytes: Buffer };
}

let server: ReturnType<typeof createServer>;
let baseUrl: string;
const seen: Seen[] = [];
let answer: { status: number; body: string } = { status: 200, body: JSON.stringify(CANNED) };

async function readForm(req: IncomingMessage): Promise<FormData> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new Request('http://local/', { method: 'POST', headers: { 'content-type': req.headers['content-type']! }, body: Buffer.concat(chunks) }).formData();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void readForm(req).then(async (form) => {
      const fields: Record<string, string[]> = {};
      let file: Seen['file'] | undefined;
      for (const [name, value] of form as unknown as Iterable<[string, FormDataEntryValue]>) {
        if (typeof value === 'string') (fields[name] ??= []).push(value);
        else file = { name: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) };
      }
      seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, fields, file: file! });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function speechFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mrr-asr-')), 'stem.ogg');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=4', '-ar', '48000', '-c:a', 'libopus', '-y', path]);
  return path;
}

describe('OpenAI-compatible transcription endpoint', () => {
  it('posts the stem as multipart with verbose_json and the key, and reads segments with word times', async () => {
    const recogniser = new OpenAiEndpointRecogniser({ url: `${baseUrl}/`, apiKey: API_KEY, model: 'whisper-1', language: 'en', timeoutMs: 10_000, ffmpegPath: 'ffmpeg' });
    const utterances = await recogniser.transcribe(speechFile());

    const request = seen.at(-1)!;
    expect([request.method, request.url, request.authorization]).toEqual(['POST', '/v1/audio/transcriptions', `Bearer ${API_KEY}`]);
    expect(request.fields).toEqual({ model: ['whisper-1'], response_format: ['verbose_json'], 'timestamp_granularities[]': ['segment', 'word'], language: ['en'] });
    expect([request.file.name, request.file.type]).toEqual(['speech.ogg', 'audio/ogg']);
    // The audio part is Ogg Opus at 16 kHz (re-encoded small), as long as the stem.
    expect(request.file.bytes.subarray(0, 4).toString('latin1')).toBe('OggS');
    const codec = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', '-i', 'pipe:0'], { input: request.file.bytes, encoding: 'utf8' });
    expect(codec.trim()).toBe('opus');
    const pcm = execFileSync('ffmpeg', ['-v', 'error', '-i', 'pipe:0', '-f', 's16le', '-ac', '1', '-ar', '16000', 'pipe:1'], { input: request.file.bytes, maxBuffer: 1 << 24 });
    expect(Math.abs(pcm.length / 2 / 16_000 - 4)).toBeLessThan(0.1);

    expect(utterances).toEqual([
      { startMs: 500, endMs: 1700, text: 'Hello everyone.', interpolated: false, words: [{ word: 'Hello', startMs: 500, endMs: 900 }, { word: 'everyone.', startMs: 900, endMs: 1700 }] },
      { startMs: 2000, endMs: 3400, text: 'Let us begin.', interpolated: false, words: [{ word: 'Let', startMs: 2000, endMs: 2300 }, { word: 'us', startMs: 2300, endMs: 2500 }, { word: 'begin.', startMs: 2500, endMs: 3400 }] },
    ]);
  });

  it("an endpoint's refusal is an error with its status and words, never the key", async () => {
    answer = { status: 401, body: '{"error":{"message":"Incorrect API key provided"}}' };
    const recogniser = new OpenAiEndpointRecogniser({ url: baseUrl, apiKey: API_KEY, model: 'whisper-1', timeoutMs: 10_000, ffmpegPath: 'ffmpeg' });
    const err = (await recogniser.transcribe(speechFile()).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/answered 401: .*Incorrect API key/);
    expect(err.message).not.toContain(API_KEY);
    expect(seen.at(-1)!.fields.language).toBeUndefined();
    answer = { status: 200, body: JSON.stringify(CANNED) };
  });

  it('segments without word times get their words spread over the segment', () => {
    const [u] = parseVerboseJson({ segments: [{ start: 1, end: 2, text: ' ab cd' }] });
    expect(u!.interpolated).toBe(true);
    expect(u!.words.map((w) => [w.word, w.startMs, w.endMs])).toEqual([['ab', 1000, 1500], ['cd', 1500, 2000]]);
    expect(() => parseVerboseJson({ text: 'only text' })).toThrow(/verbose_json/);
  });
});
