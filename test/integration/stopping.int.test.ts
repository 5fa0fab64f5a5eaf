// Issue 13 items 5 and 7 on the real stack: a !stop that arrives while the bot is still joining
// ends the session before anything starts (no "Recording started"); the call user syncs only the
// call's room and leaves it afterwards; a Redis outage while a session ends neither holds up
// closing the files nor the manifest.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const callUserId = `@${stack.appservice.botLocalpart}-call:${stack.synapse.serverName}`;
const processes: RecorderProcess[] = [];
const peers: RtcPeer[] = [];
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  for (const child of children) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await Promise.all(processes.map((p) => p.stop()));
  await dispose();
});

async function startBot(overrides: Record<string, Record<string, unknown>>) {
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  const config = stackRecorderConfig(stack, { permissions: { allow: [stack.synapse.serverName] }, ...overrides, recording: { uploadToRoom: false, ...overrides.recording } });
  const bot = await startRecorder('all', config);
  processes.push(bot);
  await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');
  const alice = new TestClient(await registerUser(stack, 'alice'));
  const roomId = await createCallRoom(alice);
  await inviteBot(alice, roomId, botUserId);
  const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440 });
  peers.push(peer);
  const botSays = (pattern: RegExp, what: string, timeoutMs = 60_000) => alice.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);
  return { bot, alice, roomId, peer, botSays, outputDir: (config.recording as { outputDir: string }).outputDir };
}

/** Makes the call user a member of another room, one it does not record. */
async function callUserElsewhere(alice: TestClient): Promise<string> {
  const asToken = (parse(readFileSync(stack.appservice.registrationFile, 'utf8')) as { as_token: string }).as_token;
  const other = await alice.createRoom({ name: 'not recorded', invite: [callUserId] });
  const response = await fetch(`${stack.synapse.url}/_matrix/client/v3/rooms/${encodeURIComponent(other)}/join?user_id=${encodeURIComponent(callUserId)}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${asToken}`, 'Content-Type': 'application/json' },
    body: '{}',
  });
  if (!response.ok) throw new Error(`the call user could not join the other room: ${response.status} ${await response.text()}`);
  return other;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

describe('stopping', () => {
  it('!stop while the bot is still joining: nothing starts, the session ends; the call user synced only this room and leaves it', async () => {
    const { bot, alice, roomId, botSays } = await startBot({});
    const other = await callUserElsewhere(alice);
    await alice.sendText(roomId, '!record');
    await bot.waitForLog((e) => e.msg === 'starting session', 'the session to start joining');
    await alice.sendText(roomId, '!stop');
    await botSays(/^Stopping the recording/, 'the stop reply');
    const stopped = await bot.waitForLog((e) => e.msg === 'stopped while joining: nothing is started', 'the session to see the stop once in the call', 60_000);
    const synced = await bot.waitForLog((e) => e.msg === 'rooms the session device synced', 'the session device to close', 30_000);
    await bot.waitForLog((e) => e.msg === 'the call user left the room', 'the call user to leave', 30_000);

    expect(String(stopped.by)).toContain(alice.user.userId);
    expect(synced.rooms).toEqual([roomId]);
    expect(bot.logs.some((l) => l.includes('"told the room"') && l.includes('Recording started'))).toBe(false);
    expect((await alice.recentEvents(roomId)).some((e) => e.sender === botUserId && /^Recording started/.test(String(e.content.body)))).toBe(false);
    expect((await alice.members(roomId)).get(callUserId)).toBe('leave');
    expect((await alice.members(other)).get(callUserId)).toBe('join');

    // The room is free again: a new !record starts a recording.
    await alice.sendText(roomId, '!record');
    await botSays(/^Recording started/, 'a new recording to start');
    await alice.sendText(roomId, '!stop');
    await botSays(/^Recording ended/, 'the end summary');
  });

  it('a Redis outage while the session ends: the files are closed and the manifest written anyway; the room hears once Redis is back', async () => {
    const port = await freePort();
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    children.push(redis);
    await sleep(300);
    const { bot, alice, roomId, peer, botSays, outputDir } = await startBot({
      redis: { url: `redis://127.0.0.1:${port}` },
      rtc: { emptyCallGraceMs: 1_000 },
      // Long enough that the outage below does not cost this worker its job.
      jobs: { lockDurationMs: 120_000 },
    });
    await alice.sendText(roomId, '!record');
    await botSays(/^Recording started/, 'the start notice');
    await sleep(3_000);

    const downAt = Date.now();
    redis.kill('SIGSTOP');
    await peer.stop();
    await bot.waitForLog((e) => e.msg === 'session ending', 'the session to end (call over)', 30_000);
    const finished = await bot.waitForLog((e) => e.msg === 'recording finished', 'the files to be closed while Redis is down', 60_000);
    await bot.waitForLog((e) => e.msg === 'recording delivered', 'the manifest while Redis is down', 60_000);
    const closedMs = Date.now() - downAt;
    const roomDir = join(outputDir, readdirSync(outputDir)[0]!);
    const segmentDir = join(roomDir, readdirSync(roomDir)[0]!, 'segment-0');
    expect(existsSync(join(segmentDir, 'manifest.json'))).toBe(true);
    const pcm = decodeToPcm(join(segmentDir, 'mixed.ogg'), stack.ffmpegPath).subarray(48_000);
    expect(Math.abs(dominantFrequency(pcm, 48_000) - 440)).toBeLessThan(5);

    redis.kill('SIGCONT');
    await botSays(/^Recording ended/, 'the end summary once Redis is back');
    console.log(`[measure] Redis stopped (SIGSTOP) as the call ended: files closed and manifest written ${closedMs} ms later, Redis still down; recording ${finished.durationMs} ms`);
  });
});
