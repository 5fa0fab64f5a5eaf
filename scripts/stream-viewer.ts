// The demo's viewer of a live stream: plays it back from the ingest with ffmpeg, as any player
// would, and says what it heard (each tone's share of the sound) and saw (the colour at points of
// one picture). Stream URLs carry a key: what the players say is passed on with the key masked.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { toneSnrDb } from '../test/helpers/fft.ts';
import { waitFor } from '../test/helpers/matrix.ts';
import { PCM_RATE, pullRtmpAudio } from '../test/helpers/stream-receivers.ts';

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** `seconds` of the stream's audio (48 kHz mono), after the first half second a player may still be settling. */
export async function listen(url: string, seconds: number, ffmpegPath: string): Promise<Int16Array> {
  const settle = PCM_RATE / 2;
  const wanted = settle + seconds * PCM_RATE;
  const receiver = pullRtmpAudio(url, ffmpegPath);
  try {
    await waitFor(async () => (receiver.samples().length >= wanted ? true : undefined), `${seconds} s of the stream's audio`, seconds * 1000 + 20_000, 200);
    return receiver.samples().subarray(settle, wanted);
  } catch (err) {
    throw new Error(`${(err as Error).message} (the player said: ${maskKey(receiver.log().trim(), url) || 'nothing'})`);
  } finally {
    await receiver.stop();
  }
}

/**
 * Each tone's share of the sound (0-1) and how far below them all the rest lies (dB). A tone's
 * power over everything else (toneSnrDb) is ~0 dB for each of two equal tones in a mix, which
 * says nothing about noise; as a share of the whole, s = snr / (1 + snr), the rest is what is left.
 */
export function toneShares(pcm: Int16Array, tones: number[]): { shares: number[]; restDb: number } {
  const shares = tones.map((hz) => {
    const snr = 10 ** (toneSnrDb(pcm, PCM_RATE, hz) / 10);
    return snr / (1 + snr);
  });
  const inTones = shares.reduce((a, b) => a + b, 0);
  const rest = Math.max(1 - inTones, 1e-12);
  return { shares, restDb: 10 * Math.log10(rest / inTones) };
}

/** In words: each tone's share of the sound and the level of all else, e.g. "440 Hz 50 %, 660 Hz 50 % of the sound, all else 45 dB below". */
export function describeTones(pcm: Int16Array, tones: number[]): string {
  const { shares, restDb } = toneShares(pcm, tones);
  return `${tones.map((hz, i) => `${hz} Hz ${(shares[i]! * 100).toFixed(0)} %`).join(', ')} of the sound, all else ${(-restDb).toFixed(0)} dB below`;
}

/** The colour at each point (fractions of width and height) of the first picture a player decodes. */
export async function coloursAt(url: string, points: Array<[number, number]>, ffmpegPath: string, timeoutMs = 20_000): Promise<Rgb[]> {
  // A small picture is enough for tile centres; scaling averages away single-pixel coding noise.
  const [w, h] = [64, 36];
  const child = spawn(
    ffmpegPath,
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', url, '-map', '0:v:0', '-frames:v', '1', '-vf', `scale=${w}:${h}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await once(child, 'close');
  clearTimeout(timer);
  const rgb = Buffer.concat(chunks);
  if (rgb.length < w * h * 3) throw new Error(`the player decoded no picture from the stream: ${maskKey(stderr.trim(), url) || `nothing within ${timeoutMs} ms`}`);
  return points.map(([fx, fy]) => {
    const i = (Math.min(h - 1, Math.floor(fy * h)) * w + Math.min(w - 1, Math.floor(fx * w))) * 3;
    return { r: rgb[i]!, g: rgb[i + 1]!, b: rgb[i + 2]! };
  });
}

/** The stream key is the URL's last path segment (rtmp://host/app/<key>). */
function maskKey(text: string, url: string): string {
  const key = url.slice(url.lastIndexOf('/') + 1);
  return key ? text.replaceAll(key, '••••') : text;
}

/** A colour named when it is plainly red or black, with its RGB values. */
export function describeColour({ r, g, b }: Rgb): string {
  const name = r > 150 && g < 80 && b < 80 ? 'red' : r < 30 && g < 30 && b < 30 ? 'black' : 'other';
  return `${name} (${r},${g},${b})`;
}
