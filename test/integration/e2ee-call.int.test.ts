// Issue 5 on the real stack: in an end-to-end encrypted room, the bot receives the members'
// media keys through MatrixRTCSession (Olm to-device) and decrypts their audio; a member whose
// key it never got is reported by name and recorded as silence, never as noise.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency, rms, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
let bot: RecorderProcess;
let outputDir: string;
const peers: RtcPeer[] = [];

beforeAll(async () => {
  const config = stackRecorderConfig(stack, { recording: { uploadToRoom: false } });
  outputDir = (config.recording as { outputDir: string }).outputDir;
  bot = await startRecorder('all', config);
  await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');
});
afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await bot?.stop();
  await dispose();
});

const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string, timeoutMs = 30_000) =>
  client.waitForEvent(roomId, (e) => e.sender === botUserId && pattern.test(String(e.content.body)), what, timeoutMs);

function segmentOf(roomId: string): string {
  const roomDir = readdirSync(outputDir).find((d) => d.includes(roomId.slice(1, 10)))!;
  const job = readdirSync(join(outputDir, roomDir))[0]!;
  return join(outputDir, roomDir, job, 'segment-0');
}
const stemFor = (segment: string, userId: string) => join(segment, readdirSync(segment).find((f) => f.startsWith('stem-') && f.includes(userId.slice(1, 12)))!);

describe('E2EE calls', () => {
  it('decrypts a peer whose key arrives over Olm, and reports a peer whose key never comes', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const mallory = new TestClient(await registerUser(stack, 'mallory'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [mallory.user.userId] });
    await joinRoom(mallory, roomId);
    await inviteBot(alice, roomId, botUserId);
    peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    peers.push(await startRtcPeer({ stack, roomId, user: mallory.user, toneHz: 660, e2ee: 'withheld' }));

    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    const report = await botSays(alice, roomId, /cannot decrypt the media of/, 'the decryption-failure report', 20_000);
    expect(String(report.content.body)).toContain(mallory.user.userId);
    expect(String(report.content.body)).toContain('not received their media key');
    await new Promise((r) => setTimeout(r, 2_000));
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');

    const segment = segmentOf(roomId);
    const heard = decodeToPcm(stemFor(segment, alice.user.userId)).subarray(48_000);
    const snr = toneSnrDb(heard, 48_000, 440);
    // Share of 20 ms windows after the first second that carry the tone (RMS above a tenth of the tone's).
    const windows = Math.floor(heard.length / 960);
    let decoded = 0;
    for (let i = 0; i < windows; i++) if (rms(heard.subarray(i * 960, (i + 1) * 960)) > 1000) decoded++;
    console.log(`[measure] E2EE peer: dominant ${dominantFrequency(heard, 48_000).toFixed(1)} Hz, SNR ${snr.toFixed(1)} dB, ${decoded}/${windows} windows decoded`);
    expect(Math.abs(dominantFrequency(heard, 48_000) - 440)).toBeLessThan(5);
    // 20 dB: the tone carries 100x the power of everything else; codec noise sits near 40-50 dB below.
    expect(snr).toBeGreaterThan(20);

    const withheld = decodeToPcm(stemFor(segment, mallory.user.userId));
    console.log(`[measure] withheld-key peer: RMS ${rms(withheld).toFixed(1)} (tone RMS ~6950)`);
    expect(rms(withheld)).toBeLessThan(50);
  });
});
