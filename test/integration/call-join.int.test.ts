// Issue 4 on the real stack: the bot joins an (unencrypted) call like an Element Call peer,
// hears a peer's tone, leaves on !stop, and its membership goes away by itself after a crash.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RoomServiceClient } from 'livekit-server-sdk';
import { describe, expect, it } from 'vitest';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig } from '../helpers/recorder-process.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const callUserId = `@${stack.appservice.botLocalpart}-call:${stack.synapse.serverName}`;
const CALL_MEMBER = 'org.matrix.msc3401.call.member';

// 127.0.0.1:9 (nothing listens there) is listed, so a member naming it is tried and found unreachable.
const suite = recorderSuite(stack, {
  rtc: { emptyCallGraceMs: 5_000, delayedLeaveEventDelayMs: 5_000, allowedAuthorizers: [...stack.sfus.slice(1).map((sfu) => new URL(sfu.authorizerUrl).host), '127.0.0.1:9'] },
  recording: { uploadToRoom: false },
});


const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string, timeoutMs = 30_000) =>
  client.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

async function callRoomWithPeer(toneHz: number, sfuIndex = 0) {
  const alice = new TestClient(await registerUser(stack, 'alice'));
  const roomId = await createCallRoom(alice);
  await inviteBot(alice, roomId, botUserId);
  const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz, sfu: stack.sfus[sfuIndex]! });
  suite.peers.push(peer);
  return { alice, roomId, peer };
}

const botMemberships = async (client: TestClient, roomId: string) =>
  (await client.roomState(roomId)).filter((e) => e.type === CALL_MEMBER && e.sender === callUserId && Object.keys(e.content).length > 0);

/** The stems of the newest session directory for a room. */
function stemsOf(roomDirPattern: string): string[] {
  const roomDir = readdirSync(suite.outputDir).find((d) => d.includes(roomDirPattern))!;
  const job = readdirSync(join(suite.outputDir, roomDir))[0]!;
  const segment = join(suite.outputDir, roomDir, job, 'segment-0');
  return readdirSync(segment).filter((f) => f.startsWith('stem-')).map((f) => join(segment, f));
}

describe('joining a call', () => {
  it('publishes a membership like the peer, appears in LiveKit, hears the tone, leaves on !stop', async () => {
    const { alice, roomId, peer } = await callRoomWithPeer(440);
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');

    // The bot's membership says it records once its recording runs (it re-sends the membership then).
    const [mine] = await waitFor(async () => {
      const found = await botMemberships(alice, roomId);
      return (found[0]?.content['matrixrtc_recorder.recording'] as { recording?: boolean } | undefined)?.recording ? found : undefined;
    }, 'the bot membership saying it records', 15_000);
    const peerEvent = (await alice.roomState(roomId)).find((e) => e.type === CALL_MEMBER && e.sender === alice.user.userId)!;
    expect(mine, 'bot membership').toBeDefined();
    // The same fields as Element Call's peer, plus the consent the bot adds (and created_ts, which
    // js-sdk adds when it re-sends a membership, as the bot does once its outputs run).
    const compared = (content: Record<string, unknown>) => Object.keys(content).filter((k) => k !== 'matrixrtc_recorder.recording' && k !== 'created_ts').sort();
    expect(compared(mine!.content)).toEqual(compared(peerEvent.content));
    expect(mine!.content).toMatchObject({ application: 'm.call', call_id: peerEvent.content.call_id, scope: 'm.room', focus_active: { type: 'livekit', focus_selection: 'multi_sfu' } });
    expect((mine!.content.foci_preferred as Array<{ livekit_service_url: string }>)[0]!.livekit_service_url).toBe(stack.sfus[0]!.authorizerUrl);
    // Consent is in the membership itself, since LiveKit names are invisible in Element Call.
    expect(mine!.content['matrixrtc_recorder.recording']).toMatchObject({ recording: true, requested_by: alice.user.userId });

    const sfu = stack.sfus[0]!;
    const rooms = new RoomServiceClient(sfu.livekitUrl.replace(/^ws/, 'http'), sfu.apiKey, sfu.apiSecret);
    const deviceId = String(mine!.content.device_id);
    // Consent under lk-jwt-service v0.5.0, which grants no canUpdateOwnMetadata: the bot leaves its
    // LiveKit name unset and says why, once for its one connection; Matrix names it as recording.
    const inLiveKit = await waitFor(
      async () => (await rooms.listParticipants(peer.livekitRoom)).find((p) => p.identity === `${callUserId}:${deviceId}`),
      'the bot as a LiveKit participant',
      15_000,
    );
    expect(inLiveKit.name).toBe('');
    const noGrant = () => suite.bot.logs.filter((line) => line.includes('grants no canUpdateOwnMetadata, so our LiveKit participant name is not set'));
    await waitFor(async () => (noGrant().length > 0 ? true : undefined), 'the bot saying why its LiveKit name is not set', 15_000);
    expect(noGrant()).toHaveLength(1);
    const callMember = (await alice.roomState(roomId)).find((e) => e.type === 'm.room.member' && e.state_key === callUserId);
    expect(callMember?.content.displayname).toBe('Call Recorder (recording)');
    await new Promise((r) => setTimeout(r, 6_000));
    await alice.sendText(roomId, '!status');
    const status = await botSays(alice, roomId, /is in the call for/, 'the status reply');
    const said = String(status.content.body);
    expect(said).toContain(`session requested by ${alice.user.userId} is in the call for`);
    expect(said).toMatch(new RegExp(`; in the call now: [^;]*\\(${alice.user.userId}\\);`));
    expect(said).toMatch(/; [\d.]+ KiB recorded\.\nRecorded: audio \(the mix and one file per speaker\)\.\n- recording \(audio\): recording$/);
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended \(stopped by/, 'the end summary');
    expect(await botMemberships(alice, roomId)).toEqual([]);

    const [stem] = stemsOf(roomId.slice(1, 10));
    const pcm = decodeToPcm(stem!).subarray(48_000); // skip the first second (joining)
    expect(pcm.length).toBeGreaterThan(48_000);
    expect(Math.abs(dominantFrequency(pcm, 48_000) - 440)).toBeLessThan(5);
    expect(toneSnrDb(pcm, 48_000, 440)).toBeGreaterThan(20);
    const first = suite.bot.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; msSinceRecord?: number }).find((e) => e.msg === 'first audio frame decoded');
    console.log(`[measure] !record to first decoded audio frame: ${first?.msSinceRecord} ms`);
  });

  it('multi-SFU: hears a peer on each SFU, each on its own stem', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, sfu: stack.sfus[0]! }));
    suite.peers.push(await startRtcPeer({ stack, roomId, user: bob.user, toneHz: 660, sfu: stack.sfus[1]! }));
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    await new Promise((r) => setTimeout(r, 5_000));
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');

    const stems = stemsOf(roomId.slice(1, 10));
    expect(stems).toHaveLength(2);
    for (const [user, hz] of [[alice.user.userId, 440], [bob.user.userId, 660]] as const) {
      const stem = stems.find((p) => p.includes(user.slice(1, 12)))!;
      const pcm = decodeToPcm(stem).subarray(48_000);
      expect(Math.abs(dominantFrequency(pcm, 48_000) - hz), `${user} stem`).toBeLessThan(5);
    }
  });

  it('tells the user when a member SFU authorizer is down, and records the rest', async () => {
    const { alice, roomId } = await callRoomWithPeer(440);
    // A member whose advertised authorizer does not answer (nothing listens on that port).
    const dead = 'http://127.0.0.1:9';
    const bob = new TestClient(await registerUser(stack, 'bob'));
    await alice.invite(roomId, bob.user.userId);
    await joinRoom(bob, roomId);
    const transport = { type: 'livekit', livekit_service_url: dead, livekit_alias: roomId };
    await bob.request('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${CALL_MEMBER}/_${bob.user.userId}_${bob.user.deviceId}_m.call`, {
      application: 'm.call', call_id: '', scope: 'm.room', device_id: bob.user.deviceId, expires: 3_600_000,
      foci_preferred: [transport], focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
      'm.call.intent': 'audio', created_ts: Date.now(),
    });
    await alice.sendText(roomId, '!record');
    const notice = await botSays(alice, roomId, /cannot receive the media of/, 'the unreachable-authorizer notice');
    expect(String(notice.content.body)).toContain(bob.user.userId);
    // Its address stays out of the room (the operator's network); the log has it.
    expect(String(notice.content.body)).not.toContain(dead);
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');
  });

  it('after kill -9 of the worker, the delayed leave event removes its membership', async () => {
    // Its own bridge and worker, so that the worker killed is surely the one in the call.
    await suite.bot.stop();
    const config = stackRecorderConfig(stack, { rtc: { delayedLeaveEventDelayMs: 5_000 }, recording: { uploadToRoom: false } });
    suite.bot = await startRecorder('bridge', config);
    const worker = await startRecorder('worker', config);
    await suite.bot.waitForLog((e) => e.msg === 'appservice listening', 'appservice listening');
    await worker.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');

    const { alice, roomId } = await callRoomWithPeer(440);
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    expect(await botMemberships(alice, roomId)).toHaveLength(1);
    const killedAt = Date.now();
    await worker.stop('SIGKILL');
    await waitFor(async () => ((await botMemberships(alice, roomId)).length === 0 ? true : undefined), 'the membership to disappear', 30_000, 200);
    const gone = Date.now() - killedAt;
    console.log(`[measure] membership removed ${gone} ms after kill -9 (delayed leave 5000 ms)`);
    // The delay runs from the last heartbeat before the kill, so it ends within the delay (plus sync slack).
    expect(gone).toBeLessThan(5_000 + 3_000);
  });
});
