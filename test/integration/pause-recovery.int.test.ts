// Issue 14: pause and opt-out are durable. A recording is paused and one member has opted out when
// its worker is killed with SIGKILL; the worker that recovers the job starts paused (its new
// segment holds no sound until !resume) and keeps the opted-out member out; the room is told.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const processes: RecorderProcess[] = [];
const peers: RtcPeer[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rmsOf = (s: Int16Array) => Math.sqrt(s.reduce((a, v) => a + v * v, 0) / Math.max(1, s.length));

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await Promise.all(processes.map((p) => p.stop()));
  await dispose();
});

describe('pause and opt-out survive a worker crash', () => {
  it('kill -9 while paused: the recovered worker records nothing until !resume, and never the member who opted out', async () => {
    const config = stackRecorderConfig(stack, {
      jobs: { lockDurationMs: 4_000, stalledIntervalMs: 2_000 },
      rtc: { delayedLeaveEventDelayMs: 5_000 },
      recording: { uploadToRoom: false },
    });
    const outputDir = (config.recording as { outputDir: string }).outputDir;
    const bridge = await startRecorder('bridge', config);
    const workers = [await startRecorder('worker', config), await startRecorder('worker', config)];
    processes.push(bridge, ...workers);
    await bridge.waitForLog((e) => e.msg === 'appservice listening', 'appservice listening');
    await Promise.all(workers.map((w) => w.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs')));

    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    peers.push(await startRtcPeer({ stack, roomId, user: bob.user, toneHz: 660, e2ee: 'keys' }));
    const botSays = (pattern: RegExp, what: string, timeoutMs = 60_000) => alice.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

    await alice.sendText(roomId, '!record');
    await botSays(/^Recording started by/, 'the start notice');
    await sleep(2_000);
    await bob.sendText(roomId, '!optout');
    await botSays(/opted out: from now on/, 'the opt-out notice');
    await sleep(1_000);
    await alice.sendText(roomId, '!pause');
    await botSays(/^Recording paused by/, 'the pause notice');
    const recording = workers.find((w) => w.logs.some((l) => l.includes('"starting session"')))!;
    const other = workers.find((w) => w !== recording)!;
    await sleep(1_000);
    await recording.stop('SIGKILL');

    await other.waitForLog((e) => e.msg === 'recovering session', 'the other worker to recover the job', 60_000);
    await botSays(/^Recording resumed: the worker/, 'the recovery notice');
    await botSays(/^The recording is paused \(by /, 'the recovered session saying it is paused');
    // Paused in the new segment for a while, then resumed.
    await sleep(3_000);
    await alice.sendText(roomId, '!resume');
    await botSays(/^Recording resumed by/, 'the resume notice');
    await sleep(3_000);
    await alice.sendText(roomId, '!stop');
    await botSays(/^Recording ended/, 'the end summary');

    const roomDir = join(outputDir, readdirSync(outputDir)[0]!);
    const jobDir = join(roomDir, readdirSync(roomDir)[0]!);
    const segments = readdirSync(jobDir).sort();
    const last = segments.at(-1)!;
    const manifest = JSON.parse(readFileSync(join(jobDir, last, 'manifest.json'), 'utf8')) as Manifest;
    const current = manifest.segments.at(-1)!;
    const pause = manifest.consent!.pauses[0]!;
    const pausedInSegment = Date.parse(pause.to!) - Date.parse(current.startedAt);
    console.log(
      `[measure] recovered while paused: segment ${current.dir} lasts ${current.durationMs} ms (resumed ${pausedInSegment} ms after it began); chapters ${JSON.stringify(current.chapters)}; ledger ${JSON.stringify(manifest.consent)}`,
    );
    // The recovered segment holds only what followed !resume: its length, its chapter at 0, alice's tone, no bob.
    const stopAt = Date.parse(manifest.endedAt) - Date.parse(current.startedAt);
    expect(Math.abs(current.durationMs - (stopAt - pausedInSegment))).toBeLessThan(1_000);
    expect(current.chapters?.[0]).toMatchObject({ startMs: 0, title: expect.stringMatching(/^Resumed/) });
    const mixed = decodeToPcm(join(jobDir, last, 'mixed.ogg'), stack.ffmpegPath);
    const levels = { alice: toneSnrDb(mixed.subarray(24_000), 48_000, 440), bob: toneSnrDb(mixed, 48_000, 660) };
    console.log(`[measure] recovered segment mix: 440 Hz ${levels.alice.toFixed(1)} dB, bob's 660 Hz ${levels.bob.toFixed(1)} dB; RMS ${rmsOf(mixed).toFixed(0)}`);
    expect(levels.alice).toBeGreaterThan(-3);
    expect(levels.bob).toBeLessThan(-40);
    expect(manifest.files.filter((f) => f.segment === current.index && f.kind === 'stem').map((f) => f.userId)).not.toContain(bob.user.userId);
    expect(manifest.consent!.people.find((p) => p.userId === bob.user.userId)!.choices.map((c) => c.choice)).toEqual(['optout']);
  });
});
