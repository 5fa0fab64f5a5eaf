// Issue 5 on the real stack: in an end-to-end encrypted room, the bot receives the members'
// media keys through MatrixRTCSession (Olm to-device) and decrypts their audio; a member whose
// key it never got is reported by name and recorded as silence, never as noise.
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { RoomServiceClient } from 'livekit-server-sdk';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency, rms, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir, stemOf } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startBrowserPeer } from '../peers/browser-peer.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const suite = recorderSuite(stack, { recording: { uploadToRoom: false } });
/** livekit.Encryption.Type.GCM: how LiveKit marks a track whose frames are end-to-end encrypted. */
const GCM = 1;
const callUserId = `@${stack.appservice.botLocalpart}-call:${stack.synapse.serverName}`;


const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string, timeoutMs = 30_000) =>
  client.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

const segmentOf = (roomId: string) => segmentDir(suite.outputDir, roomId);
/** Index of the first 20 ms window that carries a tone, or -1. */
const firstLoudWindow = (pcm: Int16Array) => {
  for (let i = 0; (i + 1) * 960 <= pcm.length; i++) if (rms(pcm.subarray(i * 960, (i + 1) * 960)) > 1000) return i;
  return -1;
};
/** 20 ms windows whose RMS is above a seventh of the tone's (~6950): decoded audio, not silence. */
function windowsDecoded(pcm: Int16Array): { decoded: number; windows: number } {
  const windows = Math.floor(pcm.length / 960);
  let decoded = 0;
  for (let i = 0; i < windows; i++) if (rms(pcm.subarray(i * 960, (i + 1) * 960)) > 1000) decoded++;
  return { decoded, windows };
}
const stemFor = stemOf;

describe('E2EE calls', () => {
  it('decrypts a peer whose key arrives over Olm, and reports a peer whose key never comes', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const mallory = new TestClient(await registerUser(stack, 'mallory'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [mallory.user.userId] });
    await joinRoom(mallory, roomId);
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    suite.peers.push(await startRtcPeer({ stack, roomId, user: mallory.user, toneHz: 660, e2ee: 'withheld' }));

    // From the moment the encrypted `!record` is typed to the first decrypted audio frame.
    const typedAt = Date.now();
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    const firstFrame = await suite.bot.waitForLog((e) => e.msg === 'first audio frame decoded' && e.roomId === roomId, 'the first decrypted audio frame');
    console.log(`[measure] encrypted !record typed to first decrypted audio frame: ${Date.parse(String(firstFrame.time)) - typedAt} ms`);
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
    const { decoded, windows } = windowsDecoded(heard);
    console.log(`[measure] E2EE peer: dominant ${dominantFrequency(heard, 48_000).toFixed(1)} Hz, SNR ${snr.toFixed(1)} dB, ${decoded}/${windows} windows decoded`);
    expect(Math.abs(dominantFrequency(heard, 48_000) - 440)).toBeLessThan(5);
    // 20 dB: the tone carries 100x the power of everything else; codec noise sits near 40-50 dB below.
    expect(snr).toBeGreaterThan(20);

    const withheld = decodeToPcm(stemFor(segment, mallory.user.userId));
    console.log(`[measure] withheld-key peer: RMS ${rms(withheld).toFixed(1)} (tone RMS ~6950)`);
    expect(rms(withheld)).toBeLessThan(50);
  });

  it('keeps decrypting across a key rotation, and media keys reach no log, Redis entry or file', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    const alicePeer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' });
    const bobPeer = await startRtcPeer({ stack, roomId, user: bob.user, toneHz: 660, e2ee: 'keys' });
    suite.peers.push(alicePeer);
    const botKeyIndexes: number[] = [];
    alicePeer.onMemberKey((identity, { index }) => {
      if (identity.startsWith(`${callUserId}:`)) botKeyIndexes.push(index);
    });
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    await new Promise((r) => setTimeout(r, 4_000));
    // Bob leaves: Element Call peers rotate their key, so alice now encrypts with a new index.
    await bobPeer.stop();
    const leftAt = Date.now();
    await waitFor(async () => (alicePeer.ownKeys().length > 1 ? true : undefined), 'alice to rotate her media key', 30_000, 100);
    const rotatedAfterMs = Date.now() - leftAt;
    // The bot rotates its own key too, as Element Call peers do, and sends the new one to alice.
    await waitFor(async () => (botKeyIndexes.some((i) => i > 0) ? true : undefined), "the bot's rotated key at alice", 30_000, 100);
    console.log(`[measure] rotation: the bot's key indexes seen by alice: ${botKeyIndexes.join(', ')}`);
    await new Promise((r) => setTimeout(r, 6_000));
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');

    const segment = segmentOf(roomId);
    const heard = decodeToPcm(stemFor(segment, alice.user.userId));
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as { startedAt: string };
    const windows = Math.floor(heard.length / 960);
    const loud = (i: number) => rms(heard.subarray(i * 960, (i + 1) * 960)) > 1000;
    const firstLoud = [...Array(windows).keys()].find(loud) ?? 0;
    let decoded = 0;
    let gap = 0;
    let longestGap = 0;
    for (let i = firstLoud; i < windows; i++) {
      if (loud(i)) {
        decoded++;
        gap = 0;
      } else longestGap = Math.max(longestGap, ++gap);
    }
    console.log(
      `[measure] rotation: key index changed ${rotatedAfterMs} ms after bob left; alice decoded ${decoded}/${windows - firstLoud} windows ` +
        `(${((100 * decoded) / (windows - firstLoud)).toFixed(1)} %), longest gap ${longestGap * 20} ms (recording started ${manifest.startedAt})`,
    );
    expect(alicePeer.ownKeys().length).toBeGreaterThan(1);
    // Less than half a second of the remaining speaker may be lost around the switch.
    expect(longestGap * 20).toBeLessThan(500);

    // Secrecy: the raw, hex and base64 forms of every key alice used appear nowhere we write.
    const forms = alicePeer.ownKeys().flatMap((k) => [Buffer.from(k).toString('hex'), Buffer.from(k).toString('base64').replace(/=+$/, ''), Buffer.from(k).toString('base64url')]);
    const logs = suite.bot.logs.join('\n');
    for (const form of forms) expect(logs.includes(form), 'key in the logs').toBe(false);
    const redis = new Redis(stack.redis.url);
    const dump: Buffer[] = [];
    for (const key of await redis.keys('*')) dump.push(Buffer.from(key), (await redis.dumpBuffer(key)) ?? Buffer.alloc(0));
    await redis.quit();
    const keyspace = Buffer.concat(dump);
    for (const key of alicePeer.ownKeys()) expect(keyspace.includes(Buffer.from(key)), 'key bytes in Redis').toBe(false);
    for (const form of forms) expect(keyspace.includes(Buffer.from(form)), 'key text in Redis').toBe(false);
    for (const file of readdirSync(segment)) {
      const bytes = readFileSync(join(segment, file));
      for (const key of alicePeer.ownKeys()) expect(bytes.includes(Buffer.from(key)), `key bytes in ${file}`).toBe(false);
      for (const form of forms) expect(bytes.includes(Buffer.from(form)), `key text in ${file}`).toBe(false);
    }
  });
  it('reports a peer that derives its keys with PBKDF2 instead of HKDF, and records silence for it', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startBrowserPeer({ stack, roomId, user: alice.user, toneHz: 523, e2ee: 'keys', keyDerivation: 'pbkdf2', chromiumPath: stack.chromiumPath }));

    // From the moment the encrypted `!record` is typed to the first decrypted audio frame.
    const typedAt = Date.now();
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    const firstFrame = await suite.bot.waitForLog((e) => e.msg === 'first audio frame decoded' && e.roomId === roomId, 'the first decrypted audio frame');
    console.log(`[measure] encrypted !record typed to first decrypted audio frame: ${Date.parse(String(firstFrame.time)) - typedAt} ms`);
    const report = await botSays(alice, roomId, /cannot decrypt the media of/, 'the decryption-failure report', 20_000);
    expect(String(report.content.body)).toContain(alice.user.userId);
    expect(String(report.content.body)).toContain('PBKDF2');
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');
    const heard = decodeToPcm(stemFor(segmentOf(roomId), alice.user.userId));
    console.log(`[measure] PBKDF2 peer: RMS ${rms(heard).toFixed(1)} over ${(heard.length / 48_000).toFixed(1)} s (tone RMS ~6950)`);
    expect(rms(heard)).toBeLessThan(50);
  });

  it('decrypts a browser peer (livekit-client in Chromium, Element Call key provider) and sends it the bot\'s own media key', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startBrowserPeer({ stack, roomId, user: alice.user, toneHz: 523, e2ee: 'keys', chromiumPath: stack.chromiumPath });
    suite.peers.push(peer);
    const botKeys: string[] = [];
    peer.onMemberKey((identity, { index }) => botKeys.push(`${identity}#${index}`));

    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    // Element Call peers get every member's key: the bot's reaches the peer over Olm as well.
    await waitFor(async () => (botKeys.some((k) => k.startsWith(`${callUserId}:`)) ? true : undefined), "the bot's media key at the peer", 20_000, 100);
    // The SFU sees the browser's track as end-to-end encrypted (GCM frames it cannot read).
    const sfu = stack.sfus[0]!;
    const rooms = new RoomServiceClient(sfu.livekitUrl.replace(/^ws/, 'http'), sfu.apiKey, sfu.apiSecret);
    const published = (await rooms.getParticipant(peer.livekitRoom, peer.identity)).tracks;
    expect(published.map((t) => t.encryption)).toEqual([GCM]);
    await new Promise((r) => setTimeout(r, 5_000));
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');

    const heard = decodeToPcm(stemFor(segmentOf(roomId), alice.user.userId));
    const firstLoud = firstLoudWindow(heard);
    const tone = heard.subarray(firstLoud * 960);
    const { decoded, windows } = windowsDecoded(tone);
    const snr = toneSnrDb(tone, 48_000, 523);
    console.log(
      `[measure] browser peer: dominant ${dominantFrequency(tone, 48_000).toFixed(1)} Hz, SNR ${snr.toFixed(1)} dB, ` +
        `${decoded}/${windows} windows decoded (${((100 * decoded) / windows).toFixed(1)} %) after the first key arrived; bot keys at the peer: ${botKeys.join(', ')}`,
    );
    expect(firstLoud, `no tone at all; page log:\n${peer.pageLog.join('\n')}`).toBeGreaterThanOrEqual(0);
    expect(Math.abs(dominantFrequency(tone, 48_000) - 523)).toBeLessThan(5);
    expect(snr).toBeGreaterThan(20);
  });
});
