// Issue 6, stop rules on the real stack: a recording ends by itself when everyone else has left
// for the grace period, when the maximum duration is reached, and cleanly (files finished, call
// left, room told) when the worker gets SIGTERM.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const callUserId = `@${stack.appservice.botLocalpart}-call:${stack.synapse.serverName}`;
const CALL_MEMBER = 'org.matrix.msc3401.call.member';
const processes: RecorderProcess[] = [];
const peers: RtcPeer[] = [];

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await Promise.all(processes.map((p) => p.stop()));
  await dispose();
});

/** A recorder with `overrides`, a room with a 440 Hz peer in its call, and the recording started. */
async function recordingCall(overrides: Record<string, Record<string, unknown>>) {
  // One appservice port: the previous test's recorder goes first.
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  const config = stackRecorderConfig(stack, { recording: { uploadToRoom: false, ...overrides.recording }, ...(overrides.rtc ? { rtc: overrides.rtc } : {}) });
  const bot = await startRecorder('all', config);
  processes.push(bot);
  await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');
  const alice = new TestClient(await registerUser(stack, 'alice'));
  const roomId = await createCallRoom(alice);
  await inviteBot(alice, roomId, botUserId);
  const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440 });
  peers.push(peer);
  const botSays = (pattern: RegExp, what: string, timeoutMs = 60_000) =>
    alice.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);
  await alice.sendText(roomId, '!record');
  await botSays(/^Recording started/, 'the start notice');
  const outputDir = (config.recording as { outputDir: string }).outputDir;
  const mixedFile = () => {
    const roomDir = join(outputDir, readdirSync(outputDir)[0]!);
    return join(roomDir, readdirSync(roomDir)[0]!, 'segment-0', 'mixed.ogg');
  };
  const botMembershipGone = () =>
    waitFor(
      async () => ((await alice.roomState(roomId)).some((e) => e.type === CALL_MEMBER && e.sender === callUserId && Object.keys(e.content).length > 0) ? undefined : true),
      "the bot's call membership to go",
      15_000,
      200,
    );
  return { bot, alice, roomId, peer, botSays, mixedFile, botMembershipGone };
}

describe('stop rules', () => {
  it('ends when everyone else has left for the grace period', async () => {
    const { peer, botSays, botMembershipGone } = await recordingCall({ rtc: { emptyCallGraceMs: 2_000 } });
    await new Promise((r) => setTimeout(r, 2_000));
    const leftAt = Date.now();
    await peer.stop();
    await botSays(/^Recording ended \(nobody else is left in the call\)/, 'the end summary');
    console.log(`[measure] empty call: summary ${Date.now() - leftAt} ms after the last member left (grace 2000 ms)`);
    await botMembershipGone();
  });

  it('ends when the bot is kicked from the room, and says so', async () => {
    const { alice, roomId, botSays } = await recordingCall({});
    await new Promise((r) => setTimeout(r, 2_000));
    const kickedAt = Date.now();
    await alice.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/kick`, { user_id: callUserId, reason: 'no recording' });
    await botSays(/^Recording ended \(my call membership was removed, or I was removed from the room\)/, 'the end summary', 30_000);
    console.log(`[measure] kick: summary ${Date.now() - kickedAt} ms after the call user was kicked`);
  });

  it('ends at the maximum duration', async () => {
    const { botSays, mixedFile } = await recordingCall({ recording: { maxDurationMs: 10_000 } });
    await botSays(/^Recording ended \(the maximum duration of 10s was reached\)/, 'the end summary', 30_000);
    const pcm = decodeToPcm(mixedFile(), stack.ffmpegPath);
    expect(Math.abs(pcm.length / 48_000 - 10)).toBeLessThan(0.5);
  });

  it('on SIGTERM finishes the files, leaves the call and tells the room', async () => {
    const { bot, botSays, mixedFile, botMembershipGone } = await recordingCall({});
    await new Promise((r) => setTimeout(r, 4_000));
    const code = await bot.stop('SIGTERM');
    expect(code).toBe(0);
    await botSays(/^Recording ended \(the worker is shutting down\)/, 'the end summary');
    await botMembershipGone();
    const pcm = decodeToPcm(mixedFile(), stack.ffmpegPath).subarray(48_000);
    expect(Math.abs(dominantFrequency(pcm, 48_000) - 440)).toBeLessThan(5);
  });
});
