// Issue 13 item 4, one job, one recorder, on the real stack: the worker recording an E2EE call is
// paused (SIGSTOP) for longer than its job lock, so BullMQ hands the job to the other worker,
// which records on into a segment of its own. When the paused worker wakes up (SIGCONT) it must
// notice by itself that the job is no longer its own, stop recording, and leave everything of its
// successor alone: the files of both segments, the room claim and the outputs in Redis, the room.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { decodeToPcm, probeDuration } from '../helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const processes: RecorderProcess[] = [];
const peers: RtcPeer[] = [];
const redis = new Redis(stack.redis.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOCK_MS = 4_000;

afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGCONT');
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await Promise.all(processes.map((p) => p.stop()));
  redis.disconnect();
  await dispose();
});

const sizes = (dir: string) => Object.fromEntries(readdirSync(dir).map((name) => [name, statSync(join(dir, name)).size]));

describe('one job, one recorder', () => {
  it('a worker paused past its job lock stops by itself when it wakes; its successor keeps the job, both segments are listed', async () => {
    const config = stackRecorderConfig(stack, {
      jobs: { lockDurationMs: LOCK_MS, stalledIntervalMs: 2_000 },
      rtc: { delayedLeaveEventDelayMs: 5_000 },
      recording: { uploadToRoom: false },
      permissions: { allow: [stack.synapse.serverName] },
    });
    const outputDir = (config.recording as { outputDir: string }).outputDir;
    const prefix = (config.redis as { prefix: string }).prefix;
    const bridge = await startRecorder('bridge', config);
    const workers = [await startRecorder('worker', config), await startRecorder('worker', config)];
    processes.push(bridge, ...workers);
    await bridge.waitForLog((e) => e.msg === 'appservice listening', 'appservice listening');
    await Promise.all(workers.map((w) => w.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs')));

    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    const botSays = (pattern: RegExp, what: string, timeoutMs = 60_000) => alice.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

    await alice.sendText(roomId, '!record');
    await botSays(/^Recording started by/, 'the start notice');
    const first = workers.find((w) => w.logs.some((l) => l.includes('"starting session"')))!;
    const second = workers.find((w) => w !== first)!;
    const jobId = String((await first.waitForLog((e) => e.msg === 'starting session', 'the session start')).jobId);
    await sleep(3_000);

    const pausedAt = Date.now();
    first.child.kill('SIGSTOP');
    await second.waitForLog((e) => e.msg === 'recovering session', 'the other worker to take the job over', 60_000);
    await botSays(/^Recording resumed/, 'the resumed notice');
    await sleep(3_000);
    const roomDir = join(outputDir, readdirSync(outputDir)[0]!);
    const jobDir = join(roomDir, jobId);
    const before = { segment0: sizes(join(jobDir, 'segment-0')), segment1: sizes(join(jobDir, 'segment-1')) };

    const wokeAt = Date.now();
    first.child.kill('SIGCONT');
    await first.waitForLog((e) => e.msg === 'job lock lost; stopping this recording at once, another worker may record the call now', 'the woken worker to notice it lost the job', 20_000);
    const noticedMs = Date.now() - wokeAt;
    await first.waitForLog((e) => e.msg === 'abandoned session stopped', 'the woken worker to stop its recording', 30_000);
    const stoppedMs = Date.now() - wokeAt;
    await first.waitForLog((e) => e.msg === 'this worker lost the job; leaving its state in Redis to the worker that holds it', 'the woken worker to leave the job state alone');

    // The woken worker is still a worker (only that session ended), and it touched nothing of its successor.
    expect(first.child.exitCode).toBeNull();
    expect(await redis.get(`${prefix}:active:${roomId}`)).toBe(jobId);
    expect(Object.keys(await redis.hgetall(`${prefix}:outputs:${jobId}`))).toEqual(['recording']);
    expect(Object.keys(await redis.hgetall(`${prefix}:segments:${jobId}`)).sort()).toEqual(['0', '1']);
    expect(first.logs.some((l) => l.includes('segment-1'))).toBe(false);
    const after0 = sizes(join(jobDir, 'segment-0'));
    expect(Object.keys(after0).sort()).toEqual(Object.keys(before.segment0).sort());
    for (const [name, size] of Object.entries(before.segment0)) expect(after0[name]).toBeGreaterThanOrEqual(size);
    for (const [name, size] of Object.entries(before.segment1)) expect(statSync(join(jobDir, 'segment-1', name)).size).toBeGreaterThanOrEqual(size);
    // Its files are closed: they no longer grow while the successor records on.
    await sleep(2_000);
    expect(sizes(join(jobDir, 'segment-0'))).toEqual(after0);

    await alice.sendText(roomId, '!stop');
    await botSays(/^Recording ended/, 'the end summary');
    await second.waitForLog((e) => e.msg === 'recording delivered', 'the successor to deliver', 30_000);
    const summaries = (await alice.recentEvents(roomId)).filter((e) => e.sender === botUserId && /^Recording ended/.test(String(e.content.body)));
    expect(summaries).toHaveLength(1);

    expect(readdirSync(jobDir).sort()).toEqual(['segment-0', 'segment-1']);
    expect(existsSync(join(jobDir, 'segment-0', 'manifest.json'))).toBe(false);
    const manifest = JSON.parse(readFileSync(join(jobDir, 'segment-1', 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.segments.map((s) => [s.index, s.dir, s.interrupted ?? false])).toEqual([
      [0, 'segment-0', true],
      [1, 'segment-1', false],
    ]);
    // Segment 0 ends about where the pause began: the clock's catch-up after SIGCONT is not written.
    const segment0 = manifest.segments[0]!;
    const beforePauseMs = pausedAt - Date.parse(segment0.startedAt);
    expect(segment0.durationMs).toBeLessThan(beforePauseMs + 1_500);
    const lengths: string[] = [];
    for (const segment of manifest.segments) {
      const files = manifest.files.filter((f) => f.segment === segment.index);
      expect(files.map((f) => f.kind).sort()).toEqual(['mixed', 'stem']);
      for (const file of files) {
        const path = join(jobDir, segment.dir, file.name);
        const seconds = probeDuration(path);
        lengths.push(`${segment.dir}/${file.name.slice(0, 12)} ${seconds.toFixed(2)} s`);
        const pcm = decodeToPcm(path, stack.ffmpegPath).subarray(48_000);
        expect(Math.abs(dominantFrequency(pcm, 48_000) - 440)).toBeLessThan(5);
        expect(toneSnrDb(pcm, 48_000, 440)).toBeGreaterThan(20);
      }
    }
    console.log(
      `[measure] lost lock: paused ${wokeAt - pausedAt} ms (lock ${LOCK_MS} ms); after SIGCONT the worker noticed in ${noticedMs} ms ` +
        `and had stopped its recording in ${stoppedMs} ms (as seen in its log); segment 0 is ${segment0.durationMs} ms for ${beforePauseMs} ms recorded before the pause; ${lengths.join('; ')}`,
    );
  });
});
