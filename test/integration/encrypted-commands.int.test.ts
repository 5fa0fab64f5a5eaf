// Issue 9 on the real stack: in an end-to-end encrypted room, commands typed by an Element-like
// client (matrix-js-sdk, Rust crypto) are encrypted on the wire; the bot decrypts them and
// answers encrypted, from one device that stays the same across a restart of the bridge.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir, stemOf } from '../helpers/recordings.ts';
import { startRecorder } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { toneSnrDb } from '../helpers/fft.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const suite = recorderSuite(stack, { recording: { uploadToRoom: false } });

const botDeviceOf = async (entry: Promise<Record<string, unknown>>) => String((await entry).deviceId);

describe('commands in encrypted rooms', () => {
  it('reads encrypted commands and answers encrypted, from one device across restarts', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const firstDevice = await botDeviceOf(suite.bot.waitForLog((e) => e.msg === 'bot device ready (end-to-end encryption on)', 'bot device ready'));

    const hello = await alice.waitForMessage(roomId, botUserId, /^Hello!/, 'the greeting');
    expect(hello.encrypted).toBe(true);

    const command = await alice.sendText(roomId, '!help');
    const help = await alice.waitForMessage(roomId, botUserId, /!record/, 'the help reply');
    expect(help.encrypted).toBe(true);

    // On the wire (what the homeserver stores) both are ciphertext.
    const wire = await alice.request<{ type: string }>('GET', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(command.event_id)}`);
    expect(wire.type).toBe('m.room.encrypted');
    const wireReply = await alice.request<{ type: string }>('GET', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(help.event_id)}`);
    expect(wireReply.type).toBe('m.room.encrypted');

    // The sealed store holds no readable trace of the device.
    const store = readFileSync(join(stack.botCrypto.storeDir, 'bot-crypto.sealed'));
    expect(store.includes(Buffer.from(firstDevice))).toBe(false);
    expect(store.includes(Buffer.from('curve25519'))).toBe(false);

    // A restart keeps the device: users see no new unknown device, and commands still work.
    await suite.bot.stop();
    suite.bot = await startRecorder('all', suite.config);
    const secondDevice = await botDeviceOf(suite.bot.waitForLog((e) => e.msg === 'bot device ready (end-to-end encryption on)', 'bot device ready after restart'));
    expect(secondDevice).toBe(firstDevice);
    await alice.sendText(roomId, '!status');
    const status = await alice.waitForMessage(roomId, botUserId, /recording/i, 'the status reply after the restart');
    expect(status.encrypted).toBe(true);
    console.log(`[measure] bot device ${firstDevice} kept across a restart`);

    // Neither the store key nor any token shows up in the log.
    const log = suite.bot.logs.join('\n');
    expect(log).not.toContain(stack.botCrypto.storeKey);
  });

  it('is read by a client that shares keys only with devices their owner verified', async () => {
    // Element's "exclude insecure devices": room keys go only to cross-signed devices. The bot's
    // device is signed with the operator's cross-signing keys, so it is one of them.
    const carol = new TestClient(await registerUser(stack, 'carol'), { onlySignedDevices: true });
    const roomId = await createCallRoom(carol, { encrypted: true });
    await inviteBot(carol, roomId, botUserId);
    await carol.sendText(roomId, '!help');
    const help = await carol.waitForMessage(roomId, botUserId, /!record/, 'the help reply to a verified-only client');
    expect(help.encrypted).toBe(true);
  });

  it('receives the media key of a peer that shares keys only with verified devices, and records it', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const dave = new TestClient(await registerUser(stack, 'dave'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [dave.user.userId] });
    await joinRoom(dave, roomId);
    await inviteBot(alice, roomId, botUserId);
    // Dave's call client sends its media key over Olm only to cross-signed devices; the bot's
    // session device is signed by the call user's key, so it gets it.
    suite.peers.push(await startRtcPeer({ stack, roomId, user: dave.user, toneHz: 550, e2ee: 'keys', onlySignedDevices: true }));
    await alice.sendText(roomId, '!record');
    await alice.waitForMessage(roomId, botUserId, /^Recording started by/, 'the start notice');
    await new Promise((r) => setTimeout(r, 4_000));
    await alice.sendText(roomId, '!stop');
    await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary');

    const heard = decodeToPcm(stemOf(segmentDir(suite.outputDir, roomId), dave.user.userId)).subarray(48_000);
    const snr = toneSnrDb(heard, 48_000, 550);
    console.log(`[measure] verified-only peer: SNR ${snr.toFixed(1)} dB at 550 Hz`);
    expect(snr).toBeGreaterThan(20);
  });
});
