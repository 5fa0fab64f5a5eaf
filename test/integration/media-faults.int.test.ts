// Issue 13, faults of the recording's own media on the real stack, checked by content:
// - one ffmpeg child of a recording is killed (SIGKILL): the files it wrote (the mix and the stems
//   heard in the recording's first second share one) go on in new parts, a file of another ffmpeg
//   (a speaker heard later) runs on untouched, and the room is told;
// - the output directory fills up (a small tmpfs mounted for the test): a clear sentence in the
//   room, and what was written before stays playable.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { decodeToPcm, probeDuration } from '../helpers/audio-files.ts';
import { bandShare, dominantFrequency, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { startRecorder } from '../helpers/recorder-process.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const suite = recorderSuite(stack, { recording: { uploadToRoom: false } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mounts: string[] = [];

afterAll(async () => {
  // The recorder writes there: it stops first, or the mount is busy.
  await suite.bot?.stop();
  for (const dir of mounts) {
    try {
      execFileSync('umount', [dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

/** The pid of the ffmpeg child of `parentPid` whose arguments name a file matching `file`. */
function ffmpegWriting(parentPid: number, file: RegExp): number | undefined {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (ppid === parentPid && args.some((a) => file.test(a))) return Number(pid);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

/** Tone check of one file from its second second on (the first holds the subscription's start). */
function toneOf(path: string, hz: number): { dominant: number; snr: number; seconds: number } {
  const pcm = decodeToPcm(path, stack.ffmpegPath);
  const body = pcm.subarray(Math.min(48_000, Math.floor(pcm.length / 4)));
  return { dominant: dominantFrequency(body, 48_000), snr: toneSnrDb(body, 48_000, hz), seconds: pcm.length / 48_000 };
}

describe('faults of the recording media', () => {
  it('an ffmpeg child killed: its files go on in new parts, a file of another ffmpeg is untouched, the room is told', async () => {
    const [alice, bob] = await Promise.all(['alice', 'bob'].map(async (n) => new TestClient(await registerUser(stack, n))));
    const roomId = await createCallRoom(alice!, { encrypted: true, invite: [bob!.user.userId] });
    await joinRoom(bob!, roomId);
    await inviteBot(alice!, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice!.user, toneHz: 440, e2ee: 'keys' }));
    const botSays = (pattern: RegExp, what: string, timeoutMs = 60_000) => alice!.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

    await alice!.sendText(roomId, '!record');
    await botSays(/^Recording started/, 'the start notice');
    // Bob is heard seconds after the start: his stem gets an ffmpeg of its own.
    await sleep(2_000);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: bob!.user, toneHz: 660, e2ee: 'keys' }));
    await sleep(5_000);
    const aliceStem = new RegExp(`stem-\\d+-.*${alice!.user.userId.slice(1, 12)}.*\\.ogg$`);
    const pid = ffmpegWriting(suite.bot.child.pid!, aliceStem);
    expect(pid, `an ffmpeg writing alice's stem among the recorder's children`).toBeDefined();
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');

    const told = await botSays(/^The encoder writing stem-.* stopped unexpectedly; that file goes on in a new part/, 'the new part notice');
    const toldAfterMs = Date.now() - killedAt;
    await sleep(5_000);
    await alice!.sendText(roomId, '!stop');
    const summary = await botSays(/^Recording ended/, 'the end summary');
    expect(String(summary.content.body)).toMatch(/Went on in a new part after an encoder stopped: (.*, )?stem-.*-part2\.ogg \(from \d+s\)/);

    const segment = segmentDir(suite.outputDir, roomId);
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
    const files = manifest.files.map((f) => ({ ...f, path: join(segment, f.name) }));
    const mixed = files.filter((f) => f.kind === 'mixed');
    const aliceFiles = files.filter((f) => f.userId === alice!.user.userId);
    const bobFiles = files.filter((f) => f.userId === bob!.user.userId);
    // Bob's stem, of another ffmpeg: one file, no part, no error, as long as the recording (his lead of silence included).
    expect(bobFiles).toHaveLength(1);
    const total = manifest.segments[0]!.durationMs;
    const bobStem = bobFiles[0]!;
    expect(bobStem.error).toBeUndefined();
    expect(bobStem.offsetMs).toBeUndefined();
    expect(Math.abs(probeDuration(bobStem.path) * 1000 - total)).toBeLessThan(500);
    const bobPcm = decodeToPcm(bobStem.path, stack.ffmpegPath);
    expect(bobPcm.length / 48_000).toBeGreaterThan(8);
    // From a second after he is first heard (his lead) to the end: only his tone.
    const onset = bobPcm.findIndex((v) => Math.abs(v) > 1_000);
    expect(onset / 48_000).toBeGreaterThan(1);
    const bobBody = bobPcm.subarray(onset + 48_000);
    const bobTone = { dominant: dominantFrequency(bobBody, 48_000), snr: toneSnrDb(bobBody, 48_000, 660) };
    expect(Math.abs(bobTone.dominant - 660)).toBeLessThan(5);
    expect(bobTone.snr).toBeGreaterThan(20);

    // The mix and alice's stem (one ffmpeg): each the first part up to the kill, then part 2 from its offset to the end.
    expect(mixed.map((f) => f.name)).toEqual(['mixed.ogg', 'mixed-part2.ogg']);
    expect(aliceFiles.map((f) => f.name)).toEqual([expect.stringMatching(/^stem-.*\.ogg$/), expect.stringMatching(/-part2\.ogg$/)]);
    const [first, second] = aliceFiles as [(typeof aliceFiles)[0], (typeof aliceFiles)[0]];
    const [mixedFirst, mixedSecond] = mixed as [(typeof mixed)[0], (typeof mixed)[0]];
    expect(String(told.content.body)).toMatch(/-part2\.ogg/);
    for (const f of [first, second]) {
      const tone = toneOf(f.path, 440);
      expect(Math.abs(tone.dominant - 440)).toBeLessThan(5);
      expect(tone.snr).toBeGreaterThan(20);
      expect(Math.abs(probeDuration(f.path) * 1000 - f.durationMs)).toBeLessThan(500);
    }
    // The mix's second part holds both tones: each a large share of its power (each alone would be ~0 dB over the rest).
    const mixedPcm = decodeToPcm(mixedSecond.path, stack.ffmpegPath).subarray(48_000);
    const shares = [bandShare(mixedPcm, 48_000, 430, 450), bandShare(mixedPcm, 48_000, 650, 670)];
    for (const share of shares) expect(share).toBeGreaterThan(0.3);
    for (const f of [mixedFirst, mixedSecond]) expect(Math.abs(probeDuration(f.path) * 1000 - f.durationMs)).toBeLessThan(500);
    // The files of one ffmpeg stopped and went on together.
    expect(mixedSecond.offsetMs).toBe(second.offsetMs);
    const gapMs = second.offsetMs! - first.durationMs;
    expect(second.offsetMs! + second.durationMs).toBeGreaterThan(total - 1_000);
    expect(mixedSecond.offsetMs! + mixedSecond.durationMs).toBeGreaterThan(total - 1_000);
    // Lost: what the killed ffmpeg held since its last Ogg page (pages are flushed each second).
    expect(gapMs).toBeGreaterThanOrEqual(0);
    expect(gapMs).toBeLessThan(3_000);
    console.log(
      `[measure] ffmpeg killed: room told ${toldAfterMs} ms after SIGKILL; part 2 starts at ${second.offsetMs} ms, part 1 holds ${first.durationMs} ms: ` +
        `${gapMs} ms lost (mix: part 1 ${mixedFirst.durationMs} ms, 440/660 Hz shares in part 2 ${shares.map((x) => x.toFixed(2)).join('/')}); bob's stem ${bobStem.durationMs} ms (SNR ${bobTone.snr.toFixed(0)} dB) of ${total} ms, untouched`,
    );
  });

  it('the output directory fills up: a clear sentence in the room, and what was written stays playable', async () => {
    const outputDir = mkdtempSync(join(tmpdir(), 'mrr-full-disk-'));
    // 384 KiB: a mix and one stem at 64 kbit/s fill it in about 20 s.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=384k', 'tmpfs', outputDir]);
    mounts.push(outputDir);
    await suite.bot.stop();
    suite.bot = await startRecorder('all', { ...suite.config, recording: { ...(suite.config.recording as object), outputDir } });
    await suite.bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');

    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    await alice.sendText(roomId, '!record');
    await alice.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice');
    const startedAt = Date.now();
    const full = await alice.waitForMessage(roomId, botUserId, /^I cannot record any more: the disk the recording is saved to is full \(after \d+s of recording\)\. What was written before is kept and plays/, 'the disk-full sentence', 90_000);
    const fullAfterMs = Date.now() - startedAt;
    const summary = await alice.waitForMessage(roomId, botUserId, /^Recording ended \(the recording disk is full\)/, 'the end summary', 60_000);
    // No path of the worker's disk in the room.
    expect(String(full.content.body)).not.toContain(outputDir);
    expect(String(summary.content.body)).not.toContain(outputDir);

    const segment = segmentDir(outputDir, roomId);
    const oggs = readdirSync(segment).filter((f) => f.endsWith('.ogg'));
    expect(oggs.sort()).toEqual(['mixed.ogg', expect.stringMatching(/^stem-01-/)]);
    const lengths: string[] = [];
    for (const name of oggs) {
      const tone = toneOf(join(segment, name), 440);
      lengths.push(`${name.slice(0, 12)} ${tone.seconds.toFixed(1)} s (SNR ${tone.snr.toFixed(0)} dB)`);
      expect(tone.seconds).toBeGreaterThan(5);
      expect(Math.abs(tone.dominant - 440)).toBeLessThan(5);
      expect(tone.snr).toBeGreaterThan(20);
    }
    // The manifest needs space too: when it could not be written, the summary says so and no partial one is left.
    const manifestWritten = !/manifest could not be written/.test(String(summary.content.body));
    if (manifestWritten) expect(JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8'))).toMatchObject({ version: 1 });
    else expect(existsSync(join(segment, 'manifest.json'))).toBe(false);
    console.log(`[measure] disk full: told ${fullAfterMs} ms after the start notice; playable: ${lengths.join('; ')}; manifest written: ${manifestWritten}`);
    console.log(`[room] ${String(full.content.body)}\n[room] ${String(summary.content.body)}`);
  });
});
