// Issue 10 on the real stack: an end-to-end encrypted call streamed live to the RTMP ingest
// (nginx with libnginx-mod-rtmp) while it is recorded, checked by content on the viewer's side:
// each speaker's tone in the pulled-back audio, the camera's colour in the picture. Destinations
// are added and removed while live; a refused key gets a plain sentence and never shows up.
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { firstFrameColour, pullRtmpAudio, type PcmReceiver } from '../helpers/stream-receivers.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';
import { rtmpInfo } from '../stack/configs.ts';
import { ownIngest } from '../helpers/own-ingest.ts';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { rms } from '../helpers/fft.ts';
import { listenSrtAudio } from '../helpers/stream-receivers.ts';
import { join } from 'node:path';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { meanRgb } from '../helpers/i420.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const ingestKey = `${stack.rtmp.goodKey}-call`;
const secondKey = `${stack.rtmp.goodKey}-second`;
/** An ingest of the test's own, to kill and restart while the stack's stays up. */
const OWN_PORTS = { rtmp: 11955, http: 11956 };
const ownIngestInfo = rtmpInfo(OWN_PORTS, `own_${Date.now()}`);
const SRT_PORT = 12020;
const archive = mkdtempSync(join(tmpdir(), 'mrr-archive-'));
const suite = recorderSuite(stack, {
  // shareVideoEncoder: a video recording and a video stream take one encode (only the shared-encode case records video here).
  recording: { uploadToRoom: false, shareVideoEncoder: true },
  storage: { directory: archive },
  streaming: {
    hlsDirectory: mkdtempSync(join(tmpdir(), 'mrr-hls-')),
    hlsSegmentSeconds: 1,
    // The stack's ingest is on loopback: typed URLs may reach it only because it is listed by address.
    allowedHosts: ['*', '127.0.0.1'],
    destinations: {
      ingest: { url: `${stack.rtmp.url}/${ingestKey}`, kind: 'video' },
      second: { url: `${stack.rtmp.url}/${secondKey}`, kind: 'audio' },
      own: { url: `${ownIngestInfo.url}/${ownIngestInfo.goodKey}`, kind: 'audio' },
      srt: { url: `srt://127.0.0.1:${SRT_PORT}?latency=120`, kind: 'audio' },
    },
    retryInitialDelayMs: 500,
    retryMaxDelayMs: 2_000,
  },
});
const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string, timeoutMs = 30_000) => client.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

/**
 * Pulls the stream back for `ms` and returns the decoded audio (48 kHz mono). A player that probes
 * 32 bytes sees only the streams of the first tags it gets: one that joined at a video tag has no
 * audio to map and exits at once (its words are in the error if the second try fails too).
 */
async function listen(url: string, ms: number, tries = 2): Promise<Int16Array> {
  const receiver: PcmReceiver = pullRtmpAudio(url, stack.ffmpegPath);
  try {
    await waitFor(
      async () => {
        if (receiver.samples().length === 0 && /matches no streams/.test(receiver.log())) throw new Error('the player found no audio in the first tags');
        return receiver.samples().length >= (48_000 * ms) / 1000 ? true : undefined;
      },
      `${ms} ms of audio from the ingest`,
      ms + 20_000,
      200,
    );
    return receiver.samples();
  } catch (err) {
    console.log(`[measure] RTMP player try failed: ${(err as Error).message}; ${receiver.log().slice(-300).replace(/\s+/g, ' ')}`);
    if (tries > 1 && receiver.samples().length === 0) return listen(url, ms, tries - 1);
    throw new Error(`${(err as Error).message}; the player said: ${receiver.log().slice(-600)}`);
  } finally {
    await receiver.stop();
  }
}

describe('live streams of a call', () => {
  it('streams an encrypted call while it is recorded, with destinations added and removed live', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    // Alice sends a red camera picture (limited-range YUV of red) and 440 Hz; bob 660 Hz, no camera.
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', video: { width: 320, height: 240, fps: 15, yuv: [81, 90, 240] } }));
    suite.peers.push(await startRtcPeer({ stack, roomId, user: bob.user, toneHz: 660, e2ee: 'keys' }));

    await alice.sendText(roomId, '!stream ingest');
    await botSays(alice, roomId, /^Streaming the call \(video\) to rtmp:\/\/.*••••/, 'the stream going live', 45_000);
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the recording beside the stream');

    const heard = (await listen(`${stack.rtmp.url}/${ingestKey}`, 4_000)).subarray(48_000);
    const snr440 = toneSnrDb(heard, 48_000, 440);
    const snr660 = toneSnrDb(heard, 48_000, 660);
    const colour = await firstFrameColour(`${stack.rtmp.url}/${ingestKey}`, stack.ffmpegPath);
    console.log(`[measure] RTMP viewer: 440 Hz ${snr440.toFixed(1)} dB, 660 Hz ${snr660.toFixed(1)} dB; picture RGB ${colour.r.toFixed(0)},${colour.g.toFixed(0)},${colour.b.toFixed(0)}`);
    // Both tones are in the mix, each about half the power (0 dB against the other), and nothing else is.
    expect(snr440).toBeGreaterThan(-6);
    expect(snr660).toBeGreaterThan(-6);
    expect(toneSnrDb(heard, 48_000, 550)).toBeLessThan(-30);
    // Half of the grid is alice's red camera, half bob's black tile.
    expect(colour.r).toBeGreaterThan(2 * colour.g + 20);

    // A second destination joins the running session; removing it leaves the first streaming.
    await alice.sendText(roomId, '!stream second');
    await botSays(alice, roomId, /^Streaming the call \(audio\) to rtmp:\/\/.*second|^Streaming the call \(audio\)/, 'the second stream going live', 45_000);
    const second = (await listen(`${stack.rtmp.url}/${secondKey}`, 3_000)).subarray(24_000);
    expect(toneSnrDb(second, 48_000, 440)).toBeGreaterThan(-6);
    await alice.sendText(roomId, '!status');
    const status = await botSays(alice, roomId, /stream to/, 'the status with both streams');
    console.log(`[measure] !status:\n${String(status.content.body)}`);
    expect(String(status.content.body)).toMatch(/recording \(audio\): recording/);
    expect(String(status.content.body)).toMatch(/stream to ingest \(rtmp:\/\/\[internal address\]\/\S+\) \(video\): (live|connecting)/);
    expect(String(status.content.body)).toMatch(/stream to second \(rtmp:\/\/\[internal address\]\/\S+\) \(audio\): (live|connecting)/);
    await alice.sendText(roomId, '!stream stop second');
    await botSays(alice, roomId, /^Stopped streaming to/, 'the second stream stopped');
    const stillThere = (await listen(`${stack.rtmp.url}/${ingestKey}`, 2_000)).subarray(24_000);
    expect(toneSnrDb(stillThere, 48_000, 440)).toBeGreaterThan(-6);

    // Stopping the recording keeps the stream; stopping the stream ends the session.
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the recording summary');
    await alice.sendText(roomId, '!stream stop');
    await botSays(alice, roomId, /^Stopped streaming to ingest .*stopped by/, 'the last stream stopped');
    await waitFor(async () => ((await alice.members(roomId)) && (await suite.bot.waitForLog((e) => e.msg === 'session ending', 'the session ending', 20_000)) ? true : undefined), 'the session to end', 25_000);

    // The stream keys were never written anywhere: not in the log, not in Redis.
    const logs = suite.bot.logs.join('\n');
    for (const key of [ingestKey, secondKey]) expect(logs.includes(key), `stream key ${key} in the log`).toBe(false);
    const redis = new Redis(stack.redis.url);
    try {
      const prefix = String((suite.config.redis as { prefix: string }).prefix);
      const keys = await redis.keys(`${prefix}*`);
      const dump = (await Promise.all(keys.map(async (k) => JSON.stringify(await redis.dump(k))))).join('\n');
      for (const key of [ingestKey, secondKey]) expect(dump.includes(key), `stream key ${key} in Redis`).toBe(false);
    } finally {
      redis.disconnect();
    }
  });

  it('encodes the picture once for a video recording and a video stream; the recording has no gap when the stream comes and goes, and no picture of a pause', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', video: { width: 320, height: 240, fps: 15, yuv: [81, 90, 240] } }));
    const pid = suite.bot.child.pid!;

    await alice.sendText(roomId, '!record video');
    await botSays(alice, roomId, /^Recording started by/, 'the video recording');
    await waitFor(async () => (x264Processes(pid) === 1 ? true : undefined), 'the recording’s one x264 encoder', 20_000, 200);
    // The stream joins an encode that runs steadily (its start-up is not what is tested here).
    await sleep(2_000);
    await alice.sendText(roomId, '!stream ingest');
    await botSays(alice, roomId, /^Streaming the call \(video\) to rtmp:\/\//, 'the stream going live beside the recording', 45_000);
    const encoders = x264Processes(pid);
    const heard = (await listen(`${stack.rtmp.url}/${ingestKey}`, 3_000)).subarray(24_000);
    const colour = await firstFrameColour(`${stack.rtmp.url}/${ingestKey}`, stack.ffmpegPath);
    const whileStreaming = x264Processes(pid);
    await alice.sendText(roomId, '!stream stop');
    await botSays(alice, roomId, /^Stopped streaming to ingest/, 'the stream stopped, the recording going on');
    await sleep(2_000);
    const afterStream = x264Processes(pid);
    // A pause: nothing of it in the file (the shared encode goes on, black, for any stream).
    await alice.sendText(roomId, '!pause');
    await botSays(alice, roomId, /^Recording paused by/, 'the pause');
    await sleep(2_000);
    await alice.sendText(roomId, '!resume');
    await botSays(alice, roomId, /^Recording resumed by/, 'the resume');
    await sleep(3_000);
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the recording summary');
    console.log(`[measure] x264 encoders of the recorder: recording alone 1, with the stream ${encoders} (${whileStreaming} later), after it ${afterStream}; viewer 440 Hz ${toneSnrDb(heard, 48_000, 440).toFixed(1)} dB, picture RGB ${colour.r.toFixed(0)},${colour.g.toFixed(0)},${colour.b.toFixed(0)}`);
    expect([encoders, whileStreaming, afterStream]).toEqual([1, 1, 1]);
    // The stream carries the call from the shared encode: alice's red camera and her tone.
    expect(toneSnrDb(heard, 48_000, 440)).toBeGreaterThan(20);
    expect(colour.r).toBeGreaterThan(2 * colour.g + 20);

    // The recording from the same encode: one file (no new part), the picture red, the tone beside it,
    // and its pictures continuous (no gap in their timestamps) through the stream's start and end.
    const segment = segmentDir(suite.outputDir, roomId);
    const file = join(segment, 'composite.mkv');
    expect(existsSync(join(segment, 'composite-part2.mkv'))).toBe(false);
    const pts = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim().split('\n').map(Number);
    const steps = pts.slice(1).map((t, i) => Math.round((t - pts[i]!) * 1000));
    // 15 fps: one step is 67 ms; a missing picture would make a step of 133 ms or more.
    const long = steps.flatMap((ms, i) => (ms > 80 ? [{ at: pts[i + 1]!, ms }] : []));
    const mix = decodeToPcm(file, stack.ffmpegPath);
    const samples = [0.1, 0.3, 0.5, 0.7, 0.9].map((f) => pts[0]! + f * (pts.at(-1)! - pts[0]!));
    if (long[0]) samples.push(long[0].at + 0.05); // the first picture after the pause
    const colours = samples.map((t) => frameColour(file, t));
    const rgb = colours.map((c) => `${c.r.toFixed(0)},${c.g.toFixed(0)},${c.b.toFixed(0)}`).join(' ');
    console.log(
      `[measure] shared-encode recording: ${pts.length} pictures from ${pts[0]!.toFixed(2)} s to ${pts.at(-1)!.toFixed(2)} s, steps over 80 ms: ${JSON.stringify(long)}; ` +
        `RGB ${rgb}; 440 Hz ${toneSnrDb(mix.subarray(48_000), 48_000, 440).toFixed(1)} dB`,
    );
    // One step only: after the resume, the file goes on at the encode's next keyframe (2 s apart);
    // the stream's start and end left none.
    expect(long.length).toBeLessThanOrEqual(1);
    expect(long[0]?.ms ?? 0).toBeLessThanOrEqual(2_100);
    // The file starts with the recording (the encode was the recording's, so its first picture is a keyframe).
    expect(pts[0]!).toBeLessThan(0.5);
    // Every picture looked at is alice's red camera: none is the black of the paused span.
    for (const c of colours) expect(c.r).toBeGreaterThan(2 * c.g + 20);
    expect(toneSnrDb(mix.subarray(48_000), 48_000, 440)).toBeGreaterThan(20);
  });

  it('tells the room in one sentence when the ingest refuses the key, which appears nowhere', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    const wrongKey = `refused${Date.now()}`;
    await alice.sendText(roomId, `!stream ${stack.rtmp.url}/${wrongKey} audio`);
    // The bot cannot redact here (power 0), so it says once that the key is readable by everyone.
    await botSays(alice, roomId, /contains a stream key that everyone in this room can read/, 'the advice to use a named destination');
    const refusal = await botSays(alice, roomId, /^I gave up streaming to|^I could not start streaming/, 'the refusal', 60_000);
    console.log(`[measure] refused key: ${String(refusal.content.body)}`);
    expect(String(refusal.content.body)).not.toContain(wrongKey);
    await sleep(1_000);
    expect(suite.bot.logs.join('\n').includes(wrongKey)).toBe(false);
  });

  it('refuses a typed URL whose host is in a private network and not listed, before anything connects', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const key = `probe${Date.now()}`;
    // `localhost` is the stack's own ingest, but only 127.0.0.1 is listed: the name resolves to loopback.
    const port = new URL(stack.rtmp.url.replace(/^rtmp:/, 'http:')).port;
    for (const target of [`rtmp://localhost:${port}/live/${key}`, `rtmp://169.254.169.254/latest/${key}`, `srt://[::1]:${SRT_PORT}?latency=120`]) {
      await alice.sendText(roomId, `!stream ${target} audio`);
      const refusal = await botSays(alice, roomId, /^I do not stream to/, `the refusal of ${target}`);
      console.log(`[measure] typed private target: ${String(refusal.content.body)}`);
      expect(String(refusal.content.body)).toMatch(/private network/);
      expect(String(refusal.content.body)).not.toContain(key);
    }
    // Nothing was queued: no session, no ffmpeg, no connection for this room.
    expect(suite.bot.logs.some((l) => l.includes(roomId) && /session queued|stream added/.test(l))).toBe(false);
  });

  describe('with an ingest that restarts', () => {
    const ingest = ownIngest({ rtmp: OWN_PORTS.rtmp, http: OWN_PORTS.http }, ownIngestInfo.goodKey);
    const startNginx = () => ingest.start();
    const killNginx = () => ingest.kill();
    afterAll(() => ingest.dispose());

    it('measures glass to glass from a speaker to RTMP and SRT viewers, and keeps recording without a gap while the ingest restarts', async () => {
      await startNginx();
      const srt = listenSrtAudio(SRT_PORT, { latencyMs: 120 }, stack.ffmpegPath);
      const alice = new TestClient(await registerUser(stack, 'alice'));
      const roomId = await createCallRoom(alice, { encrypted: true });
      await inviteBot(alice, roomId, botUserId);
      const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', silent: true });
      suite.peers.push(peer);
      await alice.sendText(roomId, '!record');
      await botSays(alice, roomId, /^Recording started by/, 'the recording');
      await alice.sendText(roomId, '!stream own');
      await botSays(alice, roomId, /^Streaming the call \(audio\) to rtmp:\/\/\[internal address\]\//, 'the RTMP stream going live', 45_000);
      await alice.sendText(roomId, '!stream srt');
      await botSays(alice, roomId, /^Streaming the call \(audio\) to srt:/, 'the SRT stream going live', 45_000);
      const rtmp = pullRtmpAudio(`${ownIngestInfo.url}/${ownIngestInfo.goodKey}`, stack.ffmpegPath);
      try {
        await waitFor(async () => (rtmp.samples().length >= 48_000 && srt.samples().length >= 48_000 ? true : undefined), 'a second of silence at both viewers', 30_000);
        const [fromRtmp, fromSrt] = [rtmp.samples().length, srt.samples().length];
        const spokeAt = peer.setTone(true);
        const [rtmpOnset, srtOnset] = await Promise.all([
          waitFor(async () => rtmp.onset(fromRtmp), 'the tone at the RTMP viewer', 20_000, 20),
          waitFor(async () => srt.onset(fromSrt), 'the tone at the SRT viewer', 20_000, 20),
        ]);
        console.log(`[measure] glass to glass from the peer's microphone: RTMP ${rtmpOnset.arrivedAt - spokeAt} ms, SRT (latency 120) ${srtOnset.arrivedAt - spokeAt} ms`);
      } finally {
        await Promise.all([rtmp.stop(), srt.stop()]);
      }

      // The ingest dies and comes back: the room hears it once each way; the recording goes on.
      await killNginx();
      await botSays(alice, roomId, /^The stream to rtmp:\/\/\[internal address\]\S* is down/, 'the stream down', 30_000);
      await sleep(2_000);
      const restartedAt = Date.now();
      await startNginx();
      await botSays(alice, roomId, /^The stream to rtmp:\/\/\[internal address\]\S* is back/, 'the stream back', 30_000);
      console.log(`[measure] call stream live again ${Date.now() - restartedAt} ms after the ingest restarted (room notice read back)`);
      await alice.sendText(roomId, '!stop');
      await botSays(alice, roomId, /^Recording ended/, 'the recording summary');
      await alice.sendText(roomId, '!stream stop');
      await botSays(alice, roomId, /^Stopped streaming to own .*, srt .*stopped by/, 'the streams stopped');

      // The mix holds the tone in every 20 ms window from its first one on: no gap from the restart.
      const mix = decodeToPcm(join(segmentDir(suite.outputDir, roomId), 'mixed.ogg'));
      const windows = Math.floor(mix.length / 960);
      let first = -1;
      let longestGap = 0;
      let gap = 0;
      for (let i = 0; i < windows; i++) {
        const loud = rms(mix.subarray(i * 960, (i + 1) * 960)) > 1000;
        if (first < 0 && loud) first = i;
        if (first < 0) continue;
        gap = loud ? 0 : gap + 1;
        longestGap = Math.max(longestGap, gap);
      }
      console.log(`[measure] recording beside a restarting ingest: tone from ${first * 20} ms, longest gap ${longestGap * 20} ms over ${((windows - first) * 20) / 1000} s`);
      expect(first).toBeGreaterThanOrEqual(0);
      // The last windows may be cut by the stop; anything beyond 100 ms inside would be a gap.
      expect(longestGap * 20).toBeLessThanOrEqual(100);
    });
  });

  it('writes an HLS stream whose playlist and segments also land in the storage sink and play the call', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    await alice.sendText(roomId, '!stream hls audio');
    await botSays(alice, roomId, /^Streaming the call \(audio\) to hls/, 'the HLS stream going live', 45_000);
    await sleep(5_000);
    await alice.sendText(roomId, '!stream stop');
    await botSays(alice, roomId, /^Stopped streaming to/, 'the HLS stream stopped');
    const playlistDir = findDirWith(archive, 'index.m3u8');
    const files = readdirSync(playlistDir);
    console.log(`[measure] HLS in the storage sink: ${files.filter((f) => f.endsWith('.ts')).length} segments beside index.m3u8 in ${playlistDir}`);
    expect(files.filter((f) => f.endsWith('.ts')).length).toBeGreaterThan(0);
    const heard = decodeToPcm(join(playlistDir, 'index.m3u8'), stack.ffmpegPath);
    expect(heard.length).toBeGreaterThan(48_000);
    expect(toneSnrDb(heard.subarray(24_000), 48_000, 440)).toBeGreaterThan(20);
  });
});

/** The recorder's descendants that run x264 (an encoder's arguments name libx264; a copy does not). */
function x264Processes(root: number): number {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parent.set(Number(name), Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  let count = 0;
  for (const pid of parent.keys()) {
    if (!below(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('libx264')) count++;
    } catch {
      // exited meanwhile
    }
  }
  return count;
}

/** Mean colour of the picture at `seconds` in a video file. */
function frameColour(path: string, seconds: number): { r: number; g: number; b: number } {
  const rgb = execFileSync('ffmpeg', ['-v', 'error', '-ss', seconds.toFixed(2), '-i', path, '-map', '0:v:0', '-frames:v', '1', '-vf', 'scale=16:16', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  return meanRgb(rgb, 256);
}

/** The folder below `root` that holds `name` (the sink's path template decides where). */
function findDirWith(root: string, name: string): string {
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name === name) return entry.parentPath;
  }
  throw new Error(`no ${name} below ${root}`);
}
