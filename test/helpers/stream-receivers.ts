// What a viewer's side of a live stream looks like in tests: ffmpeg pulling RTMP back from nginx,
// an SRT listener (Debian's srt-live-transmit) handing MPEG-TS to ffmpeg, and a synthetic source
// (a tone, silence, a solid colour) paced like the recording clock. Decoded audio keeps the time
// each piece arrived, so a test can find when a tone that started at a known moment got there.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rms } from './fft.ts';
import { toneGenerator, TONE_FRAME } from '../peers/tone.ts';
import { meanRgb, solidYuv } from './i420.ts';

const SAMPLE_RATE = 48_000;

export interface PcmReceiver {
  /** Everything decoded so far (48 kHz mono). */
  samples(): Int16Array;
  /** The first sample index at or after `fromSample` where a 10 ms block is louder than `threshold`, and when it arrived. */
  onset(fromSample: number, threshold?: number): { sample: number; arrivedAt: number } | undefined;
  /** Stderr of the receiving processes (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Low-latency decode of whatever comes in, to 48 kHz mono s16le on stdout. `probe` is how much of
 * the input ffmpeg reads before it settles which streams exist: MPEG-TS says so in its tables, so
 * the minimum does; FLV has no such table and a stream exists only once a packet of it was read.
 */
const decodeArgs = (input: string[], probe = { bytes: 32, us: 0 }) => [
  '-hide_banner', '-loglevel', 'warning', '-nostdin',
  '-fflags', '+nobuffer', '-flags', 'low_delay', '-probesize', String(probe.bytes), '-analyzeduration', String(probe.us),
  ...input,
  '-map', '0:a:0', '-f', 's16le', '-ac', '1', '-ar', String(SAMPLE_RATE), '-flush_packets', '1', 'pipe:1',
];

function collectPcm(decoder: ChildProcess, others: ChildProcess[] = []): PcmReceiver {
  const chunks: Buffer[] = [];
  const arrivals: Array<{ endByte: number; at: number }> = [];
  let bytes = 0;
  let stderr = '';
  decoder.stdout!.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
    arrivals.push({ endByte: bytes, at: Date.now() });
  });
  for (const child of [decoder, ...others]) child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const samples = () => {
    const all = Buffer.concat(chunks);
    return new Int16Array(all.buffer, all.byteOffset, Math.floor(all.length / 2));
  };
  return {
    samples,
    onset(fromSample, threshold = 2000) {
      const pcm = samples();
      for (let start = fromSample; start + 480 <= pcm.length; start += 480) {
        if (rms(pcm.subarray(start, start + 480)) > threshold) {
          const byte = (start + 480) * 2;
          const arrival = arrivals.find((a) => a.endByte >= byte);
          return arrival ? { sample: start, arrivedAt: arrival.at } : undefined;
        }
      }
      return undefined;
    },
    log: () => stderr,
    async stop() {
      for (const child of [decoder, ...others]) {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'close');
          child.kill('SIGKILL');
          await exited;
        }
      }
    },
  };
}

/** Plays an RTMP stream back (as a viewer of the ingest would) and decodes its audio. */
export function pullRtmpAudio(url: string, ffmpegPath = 'ffmpeg'): PcmReceiver {
  // Read a second of the stream before settling: with the minimum, when the ingest's first packet was video
  // the audio stream did not exist yet, '-map 0:a:0' matched nothing and the player quit at once.
  // What was read while probing is decoded straight after, so no delay stays behind.
  const decoder = spawn(ffmpegPath, decodeArgs(['-i', url], { bytes: 1_000_000, us: 1_000_000 }), { stdio: ['ignore', 'pipe', 'pipe'] });
  return collectPcm(decoder);
}

/** An SRT listener (srt-live-transmit, listener mode) whose MPEG-TS output is decoded by ffmpeg. */
export function listenSrtAudio(port: number, options: { passphrase?: string; latencyMs?: number } = {}, ffmpegPath = 'ffmpeg'): PcmReceiver {
  const params = new URLSearchParams({ mode: 'listener' });
  if (options.passphrase) params.set('passphrase', options.passphrase);
  if (options.latencyMs) params.set('latency', String(options.latencyMs));
  const listener = spawn('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?${params}`, 'file://con'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const decoder = spawn(ffmpegPath, decodeArgs(['-f', 'mpegts', '-i', 'pipe:0']), { stdio: ['pipe', 'pipe', 'pipe'] });
  listener.stdout!.pipe(decoder.stdin!);
  decoder.stdin!.on('error', () => undefined); // the listener may outlive the decoder at teardown
  return collectPcm(decoder, [listener]);
}

/** The average colour (0-255 RGB) of the first video frame of a stream, read by ffmpeg. */
export async function firstFrameColour(url: string, ffmpegPath = 'ffmpeg', timeoutMs = 20_000): Promise<{ r: number; g: number; b: number }> {
  const child = spawn(
    ffmpegPath,
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', url, '-map', '0:v:0', '-frames:v', '1', '-vf', 'scale=16:16', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await once(child, 'close');
  clearTimeout(timer);
  const rgb = Buffer.concat(chunks);
  if (rgb.length < 16 * 16 * 3) throw new Error(`no video frame from ${url.replace(/\/[^/]*$/, '/…')}: ${stderr.trim() || 'nothing decoded'}`);
  return meanRgb(rgb, 256);
}

/** A solid I420 frame of one colour (BT.601 limited range, as ffmpeg assumes for yuv420p). */
export function solidI420(width: number, height: number, rgb: { r: number; g: number; b: number }): Uint8Array {
  const { r, g, b } = rgb;
  const y = Math.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255);
  const u = Math.round(128 + (-37.797 * r - 74.203 * g + 112 * b) / 255);
  const v = Math.round(128 + (112 * r - 93.786 * g - 18.214 * b) / 255);
  return solidYuv(width, height, [y, u, v]).data;
}

export interface SyntheticSource {
  /** Switches the tone (0: silence) from the next 10 ms on; returns the moment the first such sample is written. */
  setTone(hz: number): number;
  stop(): void;
}

/**
 * Feeds a stream like the recording clock does: a 10 ms PCM chunk per 10 ms of wall time and, for
 * video, `fps` frames per second of one solid frame, both counted from the start (no drift).
 */
export function feedSynthetic(
  sink: { writeAudio(chunk: Int16Array): void; writeVideo?(frame: Uint8Array): void },
  options: { toneHz: number; video?: { fps: number; frame: Uint8Array } },
): SyntheticSource {
  const started = Date.now();
  let chunks = 0;
  let frames = 0;
  let tone = options.toneHz > 0 ? toneGenerator(options.toneHz) : undefined;
  const silence = new Int16Array(TONE_FRAME);
  const timer = setInterval(() => {
    const elapsed = Date.now() - started;
    for (; chunks < Math.floor(elapsed / 10); chunks++) sink.writeAudio(tone ? tone() : silence);
    if (options.video && sink.writeVideo) {
      for (; frames < Math.floor((elapsed * options.video.fps) / 1000); frames++) sink.writeVideo(options.video.frame);
    }
  }, 5);
  return {
    setTone(hz) {
      tone = hz > 0 ? toneGenerator(hz) : undefined;
      // The next chunk written is due at this wall time.
      return started + (chunks + 1) * 10;
    },
    stop: () => clearInterval(timer),
  };
}

export const PCM_RATE = SAMPLE_RATE;
