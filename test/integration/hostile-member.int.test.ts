// Issue 13, item 1 on the real stack: a call member chooses nothing the bot contacts or records
// beyond what the operator allows. A member whose membership names an authorizer on another
// loopback port (a trap that counts requests) is refused and named in the room, the trap never
// sees a request; a LiveKit participant without a call membership is not recorded.
import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AudioFrame, AudioSource, LocalAudioTrack, Room, TrackPublishOptions, TrackSource } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { startRecorder } from '../helpers/recorder-process.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir, stemOf } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { TONE_FRAME, TONE_RATE, toneGenerator } from '../peers/tone.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const CALL_MEMBER = 'org.matrix.msc3401.call.member';

// The default allow-list: only the homeserver's advertised transport (stack SFU a).
const suite = recorderSuite(stack, { rtc: { emptyCallGraceMs: 5_000, delayedLeaveEventDelayMs: 5_000 }, recording: { uploadToRoom: false } });

/** An HTTP server that answers like nothing and counts who POSTed to it. */
let trap: Server;
const trapped: string[] = [];
let trapPort = 0;
beforeAll(async () => {
  trap = createServer((req, res) => {
    trapped.push(`${req.method} ${req.url}`);
    res.writeHead(500).end();
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  trapPort = (trap.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => trap.close(() => resolve())));

const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string, timeoutMs = 30_000) =>
  client.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

/** A room member who publishes a call membership naming `serviceUrl` as its SFU, as any client may. */
async function hostileMember(owner: TestClient, roomId: string, name: string, serviceUrl: string): Promise<TestClient> {
  const member = new TestClient(await registerUser(stack, name));
  await owner.invite(roomId, member.user.userId);
  await joinRoom(member, roomId);
  const transport = { type: 'livekit', livekit_service_url: serviceUrl, livekit_alias: roomId };
  await member.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${CALL_MEMBER}/_${member.user.userId}_${member.user.deviceId}_m.call`, {
    application: 'm.call', call_id: '', scope: 'm.room', device_id: member.user.deviceId, expires: 3_600_000,
    foci_preferred: [transport], focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
    'm.call.intent': 'audio', created_ts: Date.now(),
  });
  return member;
}

async function callWithHostileMembers() {
  const alice = new TestClient(await registerUser(stack, 'alice'));
  const roomId = await createCallRoom(alice);
  await inviteBot(alice, roomId, botUserId);
  suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, sfu: stack.sfus[0]! }));
  // One names the trap by address, one by a name that resolves to it.
  const byAddress = await hostileMember(alice, roomId, 'mallory', `http://127.0.0.1:${trapPort}`);
  const byName = await hostileMember(alice, roomId, 'eve', `http://localhost:${trapPort}/livekit/jwt`);
  return { alice, roomId, byAddress, byName };
}

async function expectRefused(alice: TestClient, roomId: string, member: TestClient, why: RegExp) {
  const refusal = `did not connect to the LiveKit SFU named in the call membership of ${member.user.userId}`;
  // Whichever comes first: the refusal, or the trap being contacted (which fails the test at once).
  const notice = await alice.waitForEvent(roomId, (e) => trapped.length > 0 || (e.sender === botUserId && String(e.content.body).includes(refusal)), `the refusal naming ${member.user.userId}`);
  expect(trapped, 'requests the trap received').toEqual([]);
  const body = String(notice.content.body);
  expect(body).toMatch(why);
  // The member is named; no address of the operator's network (or the one the member chose) is.
  expect(body).not.toMatch(/127\.0\.0\.1|localhost:\d|:\d{4,5}\b|https?:\/\//);
  expect(body).not.toContain(String(trapPort));
  return body;
}

describe('a member chooses no target of the bot', () => {
  it('refuses an authorizer on another loopback port (by address or by name), names the member, records the rest', async () => {
    const { alice, roomId, byAddress, byName } = await callWithHostileMembers();
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    const said = await expectRefused(alice, roomId, byAddress, /not one of the LiveKit services my operator allows \(rtc\.allowedAuthorizers\)/);
    console.log(`[observe] room was told: ${said}`);
    await expectRefused(alice, roomId, byName, /not one of the LiveKit services my operator allows/);
    await new Promise((r) => setTimeout(r, 3_000));
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');
    expect(trapped, 'requests the trap received').toEqual([]);
    const pcm = decodeToPcm(stemOf(segmentDir(suite.outputDir, roomId), alice.user.userId)).subarray(48_000);
    expect(Math.abs(dominantFrequency(pcm, 48_000) - 440)).toBeLessThan(5);
  });

  it('with `*` allowed, still refuses hosts that are or resolve to loopback', async () => {
    await suite.bot.stop();
    suite.bot = await startRecorder('all', { ...suite.config, rtc: { ...(suite.config.rtc as object), allowedAuthorizers: ['*'] } });
    await suite.bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');
    const { alice, roomId, byAddress, byName } = await callWithHostileMembers();
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    await expectRefused(alice, roomId, byAddress, /in a private network/);
    await expectRefused(alice, roomId, byName, /in a private network/);
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');
    expect(trapped, 'requests the trap received').toEqual([]);
  });

  it('records no LiveKit participant that is not a call member expected on that SFU', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const carol = new TestClient(await registerUser(stack, 'carol'));
    const roomId = await createCallRoom(alice, { invite: [carol.user.userId] });
    await joinRoom(carol, roomId);
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, sfu: stack.sfus[0]! }));
    // Carol takes a token for the call's LiveKit room from the authorizer, as any room member can,
    // and publishes a 660 Hz tone without any call membership.
    const sfu = stack.sfus[0]!;
    const openId = await carol.request('POST', `/_matrix/client/v3/user/${encodeURIComponent(carol.user.userId)}/openid/request_token`, {});
    const response = await fetch(`${sfu.authorizerUrl}/sfu/get`, { method: 'POST', body: JSON.stringify({ room: roomId, openid_token: openId, device_id: carol.user.deviceId }) });
    expect(response.ok).toBe(true);
    const { url, jwt } = (await response.json()) as { url: string; jwt: string };
    const lk = new Room();
    await lk.connect(url, jwt, { autoSubscribe: false, dynacast: false });
    const source = new AudioSource(TONE_RATE, 1, 50);
    await lk.localParticipant!.publishTrack(LocalAudioTrack.createAudioTrack('microphone', source), new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));
    let running = true;
    const next = toneGenerator(660);
    const pump = (async () => {
      while (running) await source.captureFrame(new AudioFrame(next(), TONE_RATE, 1, TONE_FRAME));
    })().catch(() => undefined);
    suite.peers.push({
      stop: async () => {
        running = false;
        await pump;
        await lk.disconnect();
        await source.close();
      },
    });

    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    await new Promise((r) => setTimeout(r, 5_000));
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');

    const segment = segmentDir(suite.outputDir, roomId);
    const stems = readdirSync(segment).filter((f) => f.startsWith('stem-'));
    expect(stems, 'stems').toHaveLength(1);
    expect(stems[0]).toContain(alice.user.userId.slice(1, 12));
    const mix = decodeToPcm(`${segment}/mixed.ogg`).subarray(48_000);
    const at440 = toneSnrDb(mix, 48_000, 440);
    const at660 = toneSnrDb(mix, 48_000, 660);
    console.log(`[measure] mix with a non-member publishing 660 Hz: 440 Hz ${at440.toFixed(1)} dB, 660 Hz ${at660.toFixed(1)} dB over the rest`);
    expect(at660).toBeLessThan(-20);
    const held = suite.bot.logs.filter((line) => line.includes('track held: its participant is no call member expected on this SFU') && line.includes(carol.user.userId));
    expect(held.length, 'log lines holding carol\'s track').toBeGreaterThan(0);
  });
});
