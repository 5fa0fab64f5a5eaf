// Live streams against real ingests, fed with synthetic input (no call needed): nginx with
// Debian's RTMP module (the stack's, and one of the test's own that it kills and restarts),
// Debian's srt-live-transmit as an SRT listener, and HLS files. Every check is on the content that
// comes back out (the tone by FFT, the picture's colour), never on a connection merely opening.
// [measure] lines: glass-to-glass latency (tone handed to the stream → decoded at the receiver),
// CPU seconds per minute and memory of audio-only and 720p30 streams, and of a second destination.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseDestination, type Destination } from '../../src/outputs/stream/destination.ts';
import { LiveStream, type RetryPolicy, type StreamEvent, type StreamKind } from '../../src/outputs/stream/live-stream.ts';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../helpers/fft.ts';
import { feedSynthetic, firstFrameColour, listenSrtAudio, pullRtmpAudio, solidI420, type PcmReceiver, type SyntheticSource } from '../helpers/stream-receivers.ts';
import { ownIngest } from '../helpers/own-ingest.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const ffmpeg = stack.ffmpegPath;
const POLICY: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 15_000, giveUpAfterMs: 120_000, stallTimeoutMs: 10_000 };
const RED = { r: 230, g: 30, b: 40 };

/** Every log line the stream modules write, unscrubbed: a key must not reach them in the first place. */
const logLines: string[] = [];
const log: Logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  }),
);

/** Polls until `check` gives a value; the failure names what it waited for. */
async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, what: string | (() => string), timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(intervalMs);
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  for (const key of [stack.rtmp.goodKey]) expect(logLines.filter((l) => l.includes(key))).toEqual([]);
});

function startStream(kind: StreamKind, options: { video?: { width: number; height: number; fps: number }; policy?: RetryPolicy } = {}) {
  const stream = new LiveStream({
    kind,
    ...(options.video ? { video: options.video } : {}),
    audioBitrateKbps: 128,
    videoBitrateKbps: 2500,
    policy: options.policy ?? POLICY,
    ffmpegPath: ffmpeg,
    log,
  });
  const events: StreamEvent[] = [];
  stream.onEvent((e) => events.push(e));
  stream.start();
  cleanups.push(() => stream.stop());
  return { stream, events };
}

function feed(stream: LiveStream, toneHz: number, video?: { width: number; height: number; fps: number }): SyntheticSource {
  const source = feedSynthetic(stream, { toneHz, ...(video ? { video: { fps: video.fps, frame: solidI420(video.width, video.height, RED) } } : {}) });
  cleanups.push(() => source.stop());
  return source;
}

function receiver(r: PcmReceiver): PcmReceiver {
  cleanups.push(() => r.stop());
  return r;
}

const rtmpUrl = (name: string) => `${stack.rtmp.url}/${name}`;
const destination = (url: string, name: string): Destination => parseDestination(url, { name, trusted: true });

const isLive = (stream: LiveStream, name: string) => () => {
  const d = stream.status().destinations.find((x) => x.name === name);
  if (d?.state.phase === 'failed') throw new Error(`${name} failed: ${d.state.reason}`);
  return d?.state.phase === 'live' ? d : undefined;
};

/** The last `seconds` of what a receiver decoded, as a tone check. */
async function expectTone(r: PcmReceiver, hz: number, what: string, seconds = 2): Promise<void> {
  const pcm = await waitFor(() => {
    const s = r.samples();
    return s.length >= seconds * 48_000 ? s : undefined;
  }, () => `${seconds} s of audio from ${what} (${r.log().slice(-300)})`, 30_000);
  const tail = pcm.subarray(pcm.length - seconds * 48_000);
  expect(Math.abs(dominantFrequency(tail, 48_000) - hz), `${what}: dominant frequency`).toBeLessThan(5);
  expect(toneSnrDb(tail, 48_000, hz), `${what}: tone SNR`).toBeGreaterThan(20);
}

/** Silence first, then the tone from a known moment: how long until a receiver decodes it. */
async function measureLatency(source: SyntheticSource, r: PcmReceiver, hz: number): Promise<number> {
  await waitFor(() => (r.samples().length >= 48_000 ? true : undefined), () => `a second of silence at the receiver (${r.log().slice(-300)})`, 30_000);
  source.setTone(0);
  await sleep(1_500);
  const from = r.samples().length;
  const startedAt = source.setTone(hz);
  const onset = await waitFor(() => r.onset(from), () => `the tone at the receiver (${r.log().slice(-300)})`, 20_000);
  return onset.arrivedAt - startedAt;
}

function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
}

/** Proportional set size: the process's own memory plus its share of what it shares (ffmpeg's libraries). */
function pssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  const line = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n').find((l) => l.startsWith('Pss:'));
  return Number(line?.split(/\s+/)[1]) / 1024;
}

const measure = (line: string) => console.log(`[measure] ${line}`);

describe('live stream to RTMP (nginx-rtmp)', () => {
  it('streams audio and a picture that come back out of the ingest: the tone and the colour', async () => {
    const video = { width: 640, height: 360, fps: 30 };
    const { stream, events } = startStream('video', { video });
    const source = feed(stream, 440, video);
    stream.addDestination(destination(rtmpUrl(stack.rtmp.goodKey), 'nginx'));
    await waitFor(isLive(stream, 'nginx'), 'the RTMP destination live', 30_000);
    expect(events).toEqual([{ type: 'live', name: 'nginx', printable: 'rtmp://127.0.0.1:11935/live/••••' }]);

    const colour = await firstFrameColour(rtmpUrl(stack.rtmp.goodKey), ffmpeg);
    expect(colour.r, `red of ${JSON.stringify(colour)}`).toBeGreaterThan(180);
    expect(colour.g).toBeLessThan(80);
    expect(colour.b).toBeLessThan(80);

    const pulled = receiver(pullRtmpAudio(rtmpUrl(stack.rtmp.goodKey), ffmpeg));
    await expectTone(pulled, 440, 'the RTMP ingest');
    const latencyMs = await measureLatency(source, pulled, 880);
    measure(`glass-to-glass RTMP (video stream 640x360@30, nginx-rtmp, ffmpeg player): ${latencyMs} ms`);
    const status = stream.status().destinations[0]!;
    measure(`RTMP video stream bitrate ${status.bitrateKbps} kbit/s after ${(status.uptimeMs / 1000).toFixed(1)} s live`);
    expect(status.bitrateKbps).toBeGreaterThan(50); // a still picture needs few bits, whatever the target
  });

  it('fails fast with a plain sentence when the ingest refuses the key, and the key is in no log line', async () => {
    const badKey = 'wrong_key_7f3a9c21';
    const linesBefore = logLines.length;
    const { stream, events } = startStream('audio');
    feed(stream, 440);
    const started = Date.now();
    stream.addDestination(destination(rtmpUrl(badKey), 'typo'));
    const failed = await waitFor(() => events.find((e) => e.type === 'failed'), 'the failed event', 30_000);
    measure(`refused key reported after ${Date.now() - started} ms`);
    expect(failed).toEqual({
      type: 'failed',
      name: 'typo',
      printable: 'rtmp://127.0.0.1:11935/live/••••',
      reason: 'rtmp://127.0.0.1:11935/live/•••• refused the stream: the ingest did not accept the stream key.',
      gaveUp: false,
    });
    expect(stream.status().destinations[0]!.state).toEqual({ phase: 'failed', reason: failed.type === 'failed' ? failed.reason : '' });
    const written = logLines.slice(linesBefore);
    expect(written.some((l) => l.includes('stream destination failed'))).toBe(true);
    expect(written.filter((l) => l.includes(badKey))).toEqual([]);
    expect(JSON.stringify(stream.status())).not.toContain(badKey);
  });

  it('fails fast when nothing listens at the destination', async () => {
    const { stream, events } = startStream('audio');
    feed(stream, 440);
    stream.addDestination(destination('rtmp://127.0.0.1:11999/live/some_key_123456', 'nowhere'));
    const failed = await waitFor(() => events.find((e) => e.type === 'failed'), 'the failed event', 30_000);
    expect(failed).toMatchObject({ reason: 'rtmp://127.0.0.1:11999/live/•••• cannot be reached: nothing accepts connections there.', gaveUp: false });
  });

  it('sends one encode to two destinations; one is removed while the other goes on', async () => {
    const { stream } = startStream('audio');
    feed(stream, 440);
    const [a, b] = [`${stack.rtmp.goodKey}-a`, `${stack.rtmp.goodKey}-b`];
    stream.addDestination(destination(rtmpUrl(a), 'a'));
    await waitFor(isLive(stream, 'a'), 'destination a live', 30_000);
    const pids = stream.processIds();
    const cpuBefore = { encoder: cpuSeconds(pids.encoder), a: cpuSeconds(pids.destinations.a) };
    const t0 = Date.now();
    stream.addDestination(destination(rtmpUrl(b), 'b'));
    await waitFor(isLive(stream, 'b'), 'destination b live', 30_000);
    const pullA = receiver(pullRtmpAudio(rtmpUrl(a), ffmpeg));
    const pullB = receiver(pullRtmpAudio(rtmpUrl(b), ffmpeg));
    await expectTone(pullA, 440, 'destination a');
    await expectTone(pullB, 440, 'destination b');
    // One encoder for both: the same process id as before b joined.
    expect(stream.processIds().encoder).toBe(pids.encoder);
    // Steady state with both destinations: what the second one adds is its relay (no second encode).
    const b2 = stream.processIds().destinations.b;
    const steady = { at: Date.now(), encoder: cpuSeconds(pids.encoder), b: cpuSeconds(b2) };
    await sleep(8_000);
    const seconds = (Date.now() - steady.at) / 1000;
    measure(
      `second destination (audio stream): its relay ${(((cpuSeconds(b2) - steady.b) / seconds) * 60).toFixed(2)} CPU s/min, ${pssMb(b2).toFixed(1)} MB PSS; ` +
        `the one encoder ${(((cpuSeconds(pids.encoder) - steady.encoder) / seconds) * 60).toFixed(2)} CPU s/min for both ` +
        `(${(((steady.encoder - cpuBefore.encoder) / ((steady.at - t0) / 1000)) * 60).toFixed(2)} while b started)`,
    );

    expect(await stream.removeDestination('a')).toBe(true);
    expect(stream.destinationNames).toEqual(['b']);
    const fromB = pullB.samples().length;
    await sleep(3_000);
    const after = pullB.samples().subarray(fromB);
    expect(after.length, 'b kept coming after a was removed').toBeGreaterThan(2.5 * 48_000);
    expect(Math.abs(dominantFrequency(after, 48_000) - 440)).toBeLessThan(5);
    expect(stream.status().destinations.map((d) => [d.name, d.state.phase])).toEqual([['b', 'live']]);
    // a is gone from the ingest: a new player finds nothing to play.
    const lateA = receiver(pullRtmpAudio(rtmpUrl(a), ffmpeg));
    await sleep(3_000);
    expect(lateA.samples().length).toBe(0);
  });
});

describe('live stream to an RTMP ingest that restarts', () => {
  const ports = { rtmp: 11945, http: 11946 };
  const ingest = ownIngest(ports, `live_${Date.now()}`);
  const own = ingest.info;
  const startNginx = () => ingest.start();
  const killNginx = () => ingest.kill();
  afterAll(() => ingest.dispose());

  it('reconnects by itself: down once, back once, and the tone plays again', async () => {
    await startNginx();
    const { stream, events } = startStream('audio');
    feed(stream, 440);
    const url = `${own.url}/${own.goodKey}`;
    stream.addDestination(destination(url, 'own'));
    await waitFor(isLive(stream, 'own'), 'live', 30_000);
    await expectTone(receiver(pullRtmpAudio(url, ffmpeg)), 440, 'nginx before the restart');

    await killNginx();
    const down = await waitFor(() => events.find((e) => e.type === 'down'), 'the down event', 30_000);
    expect(down).toMatchObject({ name: 'own', printable: `rtmp://127.0.0.1:${ports.rtmp}/live/••••` });
    // It keeps trying while the ingest is down: a second attempt after the backoff (1 s, then 2 s).
    // Waited for, not slept for: a fixed 3 s raced that second attempt on a loaded machine.
    await waitFor(() => stream.status().destinations[0]!.attempts > 1, 'a second attempt while the ingest is down', 30_000);
    expect(['retrying', 'connecting']).toContain(stream.status().destinations[0]!.state.phase);
    const restartedAt = Date.now();
    await startNginx();
    const back = await waitFor(() => events.find((e) => e.type === 'back'), 'the back event', 60_000);
    const liveAgainMs = Date.now() - restartedAt;
    measure(`RTMP ingest killed, restarted after its second reconnection attempt: live again ${liveAgainMs} ms after nginx was back (down for ${back.type === 'back' ? back.downForMs : '?'} ms in all)`);
    expect(liveAgainMs).toBeLessThan(30_000); // a generous bound; the figure is in the [measure] line
    await expectTone(receiver(pullRtmpAudio(url, ffmpeg)), 440, 'nginx after the restart');
    expect(events.map((e) => e.type)).toEqual(['live', 'down', 'back']);
    expect(logLines.filter((l) => l.includes(own.goodKey))).toEqual([]);
  });
});

describe('live stream to SRT (srt-live-transmit listener)', () => {
  const passphrase = 'srt-pass-4d8e1f0b';

  it('streams the tone over SRT with a passphrase', async () => {
    const port = 12010;
    const srt = receiver(listenSrtAudio(port, { passphrase, latencyMs: 120 }, ffmpeg));
    const { stream } = startStream('audio');
    const source = feed(stream, 660);
    stream.addDestination(destination(`srt://127.0.0.1:${port}?latency=120&passphrase=${passphrase}`, 'srt'));
    await waitFor(isLive(stream, 'srt'), 'the SRT destination live', 30_000);
    expect(stream.status().destinations[0]!.printable).toBe(`srt://127.0.0.1:${port}?latency=120&passphrase=••••`);
    await expectTone(srt, 660, 'the SRT listener');
    const latencyMs = await measureLatency(source, srt, 990);
    measure(`glass-to-glass SRT (audio stream, latency=120 ms, srt-live-transmit + ffmpeg decode): ${latencyMs} ms`);
    expect(logLines.filter((l) => l.includes(passphrase))).toEqual([]);
  });

  it('fails fast when the listener rejects the passphrase', async () => {
    const port = 12011;
    receiver(listenSrtAudio(port, { passphrase }, ffmpeg));
    const { stream, events } = startStream('audio');
    feed(stream, 660);
    const wrong = 'not-the-passphrase-123';
    stream.addDestination(destination(`srt://127.0.0.1:${port}?passphrase=${wrong}`, 'srt'));
    const failed = await waitFor(() => events.find((e) => e.type === 'failed'), 'the failed event', 30_000);
    expect(failed).toMatchObject({ reason: `srt://127.0.0.1:${port}?passphrase=•••• refused the stream: wrong passphrase.` });
    expect(logLines.filter((l) => l.includes(wrong))).toEqual([]);
  });
});

describe('live stream to HLS', () => {
  it('writes a live playlist whose segments decode and hold the tone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-hls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { stream } = startStream('audio');
    feed(stream, 550);
    stream.addDestination(parseDestination(`hls:${dir}`, { name: 'hls', trusted: true, hls: { segmentSeconds: 1, listSize: 4 } }));
    await waitFor(isLive(stream, 'hls'), 'the HLS destination live', 30_000);
    const playlist = join(dir, 'index.m3u8');
    await waitFor(() => (existsSync(playlist) && (readFileSync(playlist, 'utf8').match(/#EXTINF/g) ?? []).length >= 3 ? true : undefined), 'three segments in the playlist', 30_000);
    const text = readFileSync(playlist, 'utf8');
    expect(text).toMatch(/#EXT-X-TARGETDURATION:\d/);
    const segments = text.split('\n').filter((l) => l.endsWith('.ts'));
    for (const segment of segments) expect(existsSync(join(dir, segment)), segment).toBe(true);
    // ffmpeg follows a live playlist forever: decode a snapshot of it, closed with ENDLIST.
    const snapshot = mkdtempSync(join(tmpdir(), 'mrr-hls-copy-'));
    cleanups.push(() => rmSync(snapshot, { recursive: true, force: true }));
    for (const segment of segments) copyFileSync(join(dir, segment), join(snapshot, segment));
    writeFileSync(join(snapshot, 'index.m3u8'), `${text.trimEnd()}\n#EXT-X-ENDLIST\n`);
    const pcm = decodeToPcm(join(snapshot, 'index.m3u8'), ffmpeg);
    expect(pcm.length).toBeGreaterThan(2 * 48_000);
    expect(Math.abs(dominantFrequency(pcm, 48_000) - 550)).toBeLessThan(5);
    expect(toneSnrDb(pcm, 48_000, 550)).toBeGreaterThan(20);
    await sleep(4_000);
    // Live: old segments are deleted, the playlist keeps its window.
    expect(readdirSync(dir).filter((f) => f.endsWith('.ts')).length).toBeLessThanOrEqual(6);
  });
});

/**
 * Frames that keep the encoder busy like a camera would: a grey grid with a noisy 1/4-size tile that
 * moves (a still picture costs x264 almost nothing and would flatter the figures).
 */
function movingFrames(width: number, height: number, count: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const base = solidI420(width, height, { r: 90, g: 90, b: 90 });
  const [tw, th] = [width / 2, height / 2];
  for (let f = 0; f < count; f++) {
    const frame = base.slice();
    const x0 = Math.floor(((width - tw) * f) / count) & ~1;
    for (let y = 0; y < th; y++) {
      const row = (height / 4 + y) * width + x0;
      for (let x = 0; x < tw; x++) frame[row + x] = 60 + ((Math.random() * 140) | 0);
    }
    frames.push(frame);
  }
  return frames;
}

describe('resources', () => {
  /** CPU seconds per minute of one stream (its encoder and one RTMP destination) over `seconds`, and its RTMP latency. */
  async function measureStream(kind: StreamKind, video: { width: number; height: number; fps: number } | undefined, seconds: number, name: string) {
    const { stream } = startStream(kind, video ? { video } : {});
    let source: SyntheticSource;
    if (video) {
      const frames = movingFrames(video.width, video.height, video.fps * 2);
      let n = 0;
      source = feedSynthetic({ writeAudio: (c) => stream.writeAudio(c), writeVideo: () => stream.writeVideo(frames[n++ % frames.length]!) }, { toneHz: 440, video: { fps: video.fps, frame: frames[0]! } });
      cleanups.push(() => source.stop());
    } else {
      source = feed(stream, 440);
    }
    const url = rtmpUrl(`${stack.rtmp.goodKey}-${name}`);
    stream.addDestination(destination(url, name));
    await waitFor(isLive(stream, name), `${name} live`, 30_000);
    const latencyMs = await measureLatency(source, receiver(pullRtmpAudio(url, ffmpeg)), 880);
    measure(`glass-to-glass RTMP (${name}, nginx-rtmp, ffmpeg player): ${latencyMs} ms`);
    const pids = stream.processIds();
    const before = { encoder: cpuSeconds(pids.encoder), relay: cpuSeconds(pids.destinations[name]), node: process.cpuUsage() };
    await sleep(seconds * 1000);
    const perMin = (a: number, b: number) => (((b - a) / seconds) * 60).toFixed(2);
    const node = process.cpuUsage(before.node);
    measure(
      `${name}: encoder ${perMin(before.encoder, cpuSeconds(pids.encoder))} CPU s/min (${pssMb(pids.encoder).toFixed(0)} MB), ` +
        `destination relay ${perMin(before.relay, cpuSeconds(pids.destinations[name]))} CPU s/min (${pssMb(pids.destinations[name]).toFixed(0)} MB), ` +
        `test process (source + FLV fan-out) ${(((node.user + node.system) / 1e6 / seconds) * 60).toFixed(2)} CPU s/min`,
    );
    const status = stream.status();
    expect(status.destinations[0]!.state.phase).toBe('live');
    measure(`${name}: bitrate ${status.destinations[0]!.bitrateKbps} kbit/s, input dropped ${JSON.stringify(status.dropped)}`);
  }

  it('measures an audio-only stream', async () => {
    await measureStream('audio', undefined, 20, 'audio');
  });

  it('measures a 1280x720@30 video stream', async () => {
    const video = { width: 1280, height: 720, fps: 30 };
    await measureStream('video', video, 20, 'video720p30');
  });
});
