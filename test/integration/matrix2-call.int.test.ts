// Issue 9 on the real stack: Matrix 2.0 calls, as Element Call's matrix_2_0 mode makes them.
// Members publish sticky org.matrix.msc4143.rtc.member events (MSC4354) instead of the state
// event, connect with hashed LiveKit identities from /get_token, and in encrypted rooms their
// membership is Megolm-encrypted. The bot (membershipMode auto) records them, alone or mixed with
// legacy members, and publishes the sticky kind of membership itself.
import type { MatrixClient } from 'matrix-js-sdk';
import { computeRtcIdentityRaw } from 'matrix-js-sdk/lib/matrixrtc/membershipData/rtc.js';
import { RoomServiceClient } from 'livekit-server-sdk';
import { describe, expect, it } from 'vitest';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency, rms, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir, stemOf } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer, waitForMembership } from '../peers/rtc-peer.ts';
import { readStackInfo, type SfuInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const callUserId = `@${stack.appservice.botLocalpart}-call:${stack.synapse.serverName}`;
const RTC_MEMBER = 'org.matrix.msc4143.rtc.member';
const CALL_MEMBER = 'org.matrix.msc3401.call.member';
const suite = recorderSuite(stack, { rtc: { membershipMode: 'auto' }, recording: { uploadToRoom: false } });

const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string, timeoutMs = 30_000) =>
  client.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

const segmentOf = (roomId: string) => segmentDir(suite.outputDir, roomId);
const stemFor = stemOf;

/** The tone in a stem from its first loud 20 ms window on: SNR, frequency, share of windows decoded. */
function measureStem(segment: string, userId: string, toneHz: number) {
  const pcm = decodeToPcm(stemFor(segment, userId));
  const windows = Math.floor(pcm.length / 960);
  const loud = (i: number) => rms(pcm.subarray(i * 960, (i + 1) * 960)) > 1000;
  const first = [...Array(windows).keys()].find(loud) ?? -1;
  const tone = pcm.subarray(Math.max(0, first) * 960);
  const decoded = [...Array(windows - Math.max(0, first)).keys()].filter((i) => loud(i + Math.max(0, first))).length;
  return { first, snr: toneSnrDb(tone, 48_000, toneHz), hz: dominantFrequency(tone, 48_000), decoded, windows: windows - Math.max(0, first), seconds: pcm.length / 48_000 };
}

/**
 * The bot's call membership as a syncing member's js-sdk client sees it: its sticky rtc.member
 * join (decrypted there in encrypted rooms), and no legacy state event.
 */
async function botMembershipSeenBy(client: MatrixClient, observer: TestClient, roomId: string) {
  const sticky = await waitFor(
    async () =>
      [...client.getRoom(roomId)!._unstable_getStickyEvents()].find((e) => e.getType() === RTC_MEMBER && e.getSender() === callUserId && typeof e.getContent().member === 'object'),
    "the bot's sticky membership at a peer",
    20_000,
    100,
  );
  const legacy = (await observer.roomState(roomId)).filter((e) => e.type === CALL_MEMBER && e.sender === callUserId && Object.keys(e.content).length > 0);
  return { event: sticky, content: sticky.getContent() as { member: { id: string; device_id: string; user_id: string }; transports: { published: Array<{ livekit_service_url: string }> } }, legacy };
}

async function livekitIdentities(sfu: SfuInfo, livekitRoom: string): Promise<string[]> {
  const rooms = new RoomServiceClient(sfu.livekitUrl.replace(/^ws/, 'http'), sfu.apiKey, sfu.apiSecret);
  return (await rooms.listParticipants(livekitRoom)).map((p) => p.identity);
}

describe('Matrix 2.0 calls (sticky rtc.member memberships)', () => {
  it('the homeserver advertises sticky events', async () => {
    const versions = (await (await fetch(`${stack.synapse.url}/_matrix/client/versions`)).json()) as { unstable_features: Record<string, boolean> };
    expect(versions.unstable_features['org.matrix.msc4354']).toBe(true);
  });

  it('records an end-to-end encrypted call of two sticky-mode peers, joining with a sticky membership itself', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    const alicePeer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', membership: 'sticky' });
    suite.peers.push(alicePeer);
    const bobPeer = await startRtcPeer({ stack, roomId, user: bob.user, toneHz: 660, e2ee: 'keys', membership: 'sticky' });
    suite.peers.push(bobPeer);
    // On the wire: the peers' memberships are sticky Megolm-encrypted events, and no state event.
    const { chunk: wire } = await alice.request<{ chunk: Array<{ type: string; sender: string; msc4354_sticky?: { duration_ms: number } }> }>(
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=20`,
    );
    const peerSticky = wire.filter((e) => e.msc4354_sticky && (e.sender === alice.user.userId || e.sender === bob.user.userId));
    expect(peerSticky.map((e) => e.type)).toContain('m.room.encrypted');
    expect((await alice.roomState(roomId)).filter((e) => e.type === CALL_MEMBER)).toEqual([]);
    expect(alicePeer.identity).not.toContain(':'); // the /get_token hash, not @user:server:DEVICE

    const recordAt = Date.now();
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');

    // (c) auto mode chose the sticky membership: the peers see it (decrypted), the room state has none.
    const mine = await botMembershipSeenBy(alicePeer.client, alice, roomId);
    expect(mine.legacy).toEqual([]);
    expect(mine.content.member.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(mine.content.transports.published[0]!.livekit_service_url).toBe(stack.sfus[0]!.authorizerUrl);
    expect(mine.event.getWireType()).toBe('m.room.encrypted');
    // Its LiveKit identity is the hash peers derive from that membership (it came from /get_token).
    const botIdentity = await computeRtcIdentityRaw(callUserId, mine.content.member.device_id, mine.content.member.id);
    await waitFor(async () => ((await livekitIdentities(stack.sfus[0]!, alicePeer.livekitRoom)).includes(botIdentity) ? true : undefined), 'the bot under its hashed identity on the SFU', 15_000);

    await new Promise((r) => setTimeout(r, 6_000));
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');
    // Leaving sends the scheduled sticky leave (in clear): the peers see the bot go.
    await waitForMembership(alicePeer.session, callUserId, false, 15_000);

    const segment = segmentOf(roomId);
    const a = measureStem(segment, alice.user.userId, 440);
    const b = measureStem(segment, bob.user.userId, 660);
    const viaKeys = suite.bot.logs.filter((l) => l.includes('identified by its media key') && (l.includes(alice.user.userId) || l.includes(bob.user.userId))).length;
    console.log(
      `[measure] matrix 2.0 E2EE: alice ${a.hz.toFixed(1)} Hz SNR ${a.snr.toFixed(1)} dB (${a.decoded}/${a.windows} windows from ${((a.first * 20) / 1000).toFixed(2)} s), ` +
        `bob ${b.hz.toFixed(1)} Hz SNR ${b.snr.toFixed(1)} dB (${b.decoded}/${b.windows} windows from ${((b.first * 20) / 1000).toFixed(2)} s); ` +
        `${viaKeys} members identified by media key (membership unreadable); !record to stop ${((Date.now() - recordAt) / 1000).toFixed(1)} s`,
    );
    expect(a.first).toBeGreaterThanOrEqual(0);
    expect(b.first).toBeGreaterThanOrEqual(0);
    expect(Math.abs(a.hz - 440)).toBeLessThan(5);
    expect(Math.abs(b.hz - 660)).toBeLessThan(5);
    expect(a.snr).toBeGreaterThan(20);
    expect(b.snr).toBeGreaterThan(20);
  });

  it('names a member whose encrypted sticky membership it cannot read and who sends it no media key', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const mallory = new TestClient(await registerUser(stack, 'mallory'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [mallory.user.userId] });
    await joinRoom(mallory, roomId);
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', membership: 'sticky' }));
    suite.peers.push(await startRtcPeer({ stack, roomId, user: mallory.user, toneHz: 660, e2ee: 'withheld', membership: 'sticky' }));

    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    const notice = await botSays(alice, roomId, /cannot read the call membership of/, 'the unreadable-membership notice', 40_000);
    console.log(`[measure] unreadable membership notice: ${String(notice.content.body)}`);
    expect(String(notice.content.body)).toContain(mallory.user.userId);
    expect(String(notice.content.body)).not.toContain(alice.user.userId);
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');
    const a = measureStem(segmentOf(roomId), alice.user.userId, 440);
    expect(a.snr).toBeGreaterThan(20);
  });

  it('records a mixed call: a legacy member and a sticky member on another SFU, joining sticky', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    const alicePeer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 523, membership: 'legacy' });
    suite.peers.push(alicePeer);
    const bobPeer = await startRtcPeer({ stack, roomId, user: bob.user, toneHz: 784, membership: 'sticky', sfu: stack.sfus[1]! });
    suite.peers.push(bobPeer);
    expect(alicePeer.identity).toBe(`${alice.user.userId}:${alice.user.deviceId}`);
    expect(bobPeer.identity).not.toContain(':');

    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    // (c) a sticky member is there, so auto mode joins sticky; the legacy peer's js-sdk reads it too.
    const mine = await botMembershipSeenBy(alicePeer.client, alice, roomId);
    expect(mine.legacy).toEqual([]);
    expect(alicePeer.session.memberships.map((m) => m.userId)).toContain(callUserId);
    const botIdentity = await computeRtcIdentityRaw(callUserId, mine.content.member.device_id, mine.content.member.id);
    // The bot subscribes to bob's SFU (his transport comes from his sticky membership) as well as publishing on its own.
    await waitFor(async () => ((await livekitIdentities(stack.sfus[1]!, bobPeer.livekitRoom)).includes(botIdentity) ? true : undefined), "the bot on bob's SFU", 15_000);
    await waitFor(async () => ((await livekitIdentities(stack.sfus[0]!, alicePeer.livekitRoom)).includes(botIdentity) ? true : undefined), "the bot on alice's SFU", 15_000);

    await new Promise((r) => setTimeout(r, 6_000));
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');

    const segment = segmentOf(roomId);
    const a = measureStem(segment, alice.user.userId, 523);
    const b = measureStem(segment, bob.user.userId, 784);
    console.log(
      `[measure] mixed call: legacy alice ${a.hz.toFixed(1)} Hz SNR ${a.snr.toFixed(1)} dB (${a.decoded}/${a.windows}), ` +
        `sticky bob on SFU b ${b.hz.toFixed(1)} Hz SNR ${b.snr.toFixed(1)} dB (${b.decoded}/${b.windows})`,
    );
    expect(Math.abs(a.hz - 523)).toBeLessThan(5);
    expect(Math.abs(b.hz - 784)).toBeLessThan(5);
    expect(a.snr).toBeGreaterThan(20);
    expect(b.snr).toBeGreaterThan(20);
  });
});
