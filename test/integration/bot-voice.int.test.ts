// Issue 11, part 1, on the real stack: the bot speaks in an end-to-end encrypted call. Its call
// user publishes an audio track encrypted with its own media key (the key js-sdk sends the
// members over Olm), and a browser peer (livekit-client with Element Call's key provider)
// decrypts and hears the spoken notice when the recording starts. Proved by content: the heard
// audio has the loudness contour of the same sentence synthesised here, in the speech band.
import { describe, expect, it } from 'vitest';
import { synthesiseSpeech } from '../../src/media/speech/synthesise.ts';
import { bandShare, rms } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { findUtterance } from '../helpers/speech.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startBrowserPeer } from '../peers/browser-peer.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const callUserId = `@${stack.appservice.botLocalpart}-call:${stack.synapse.serverName}`;
const NOTICE = 'This call is being recorded, and this sentence proves that you can hear me.';
const suite = recorderSuite(stack, { recording: { uploadToRoom: false }, voice: { recordingNotice: NOTICE } });

describe('the bot speaks in the call', () => {
  it('says that the call is recorded, encrypted with its own key, and an Element Call style browser peer hears it', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startBrowserPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', chromiumPath: stack.chromiumPath, listen: true });
    suite.peers.push(peer);
    const botKeys: number[] = [];
    peer.onMemberKey((identity, { index }) => {
      if (identity.startsWith(`${callUserId}:`)) botKeys.push(index);
    });

    await alice.sendText(roomId, '!record');
    await alice.waitForMessage(roomId, botUserId, /^Recording started by/, 'the start notice', 30_000);
    const said = await suite.bot.waitForLog((e) => e.msg === 'said aloud' && e.roomId === roomId, 'the spoken notice', 30_000);
    await new Promise((r) => setTimeout(r, 1_500)); // the jitter buffer's tail
    const heard = (await peer.heard()).find((h) => h.identity.startsWith(`${callUserId}:`));
    await alice.sendText(roomId, '!stop');
    await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000);

    expect(botKeys.length, "the bot's media key reached the peer over Olm").toBeGreaterThan(0);
    expect(heard, `the peer subscribed to the bot's track; page log:\n${peer.pageLog.join('\n')}`).toBeDefined();
    const reference = await synthesiseSpeech(NOTICE, { language: 'en' });
    const found = findUtterance(heard!.pcm, reference);
    const spoken = heard!.pcm.subarray((found.offsetMs * 48), found.offsetMs * 48 + reference.length);
    const before = heard!.pcm.subarray(0, Math.max(0, found.offsetMs * 48 - 4_800));
    const speechBand = bandShare(spoken, 48_000, 300, 3_400);
    const onsetAt = heard!.startedAt + found.offsetMs;
    console.log(
      `[measure] bot voice: heard ${(heard!.pcm.length / 48_000).toFixed(1)} s from the bot, the notice at +${found.offsetMs} ms ` +
        `(envelope correlation ${found.correlation.toFixed(3)}, ${(100 * speechBand).toFixed(0)} % of its power in 300-3400 Hz, RMS ${rms(spoken).toFixed(0)}; ` +
        `before it RMS ${rms(before).toFixed(0)}); onset ${Math.round(onsetAt - (Date.parse(String(said.time)) - Number(said.playedMs)))} ms after the bot began playing it; bot key indexes ${botKeys.join(',')}`,
    );
    const closed = await suite.bot.waitForLog((e) => e.msg === 'published track closed' && e.roomId === roomId, 'the voice track closed', 30_000);
    console.log(`[measure] voice track: ${closed.framesSent} frames sent, ${closed.stalls} captureFrame stalls, ${closed.captureErrors} capture errors, ${closed.framesDropped} dropped`);
    expect(closed.stalls).toBe(0);
    // The same sentence: its syllables' contour, not noise (undecryptable frames decode to noise or silence).
    expect(found.correlation).toBeGreaterThan(0.8);
    expect(speechBand).toBeGreaterThan(0.6);
    expect(rms(spoken)).toBeGreaterThan(300);
  });

  it('says it again for a member who joins while the call is recorded, and the joiner (an Element Call style browser peer) hears it', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    await alice.sendText(roomId, '!record');
    await alice.waitForMessage(roomId, botUserId, /^Recording started by/, 'the start notice', 30_000);
    await suite.bot.waitForLog((e) => e.msg === 'said aloud' && e.roomId === roomId, 'the notice at the start', 30_000);

    // Bob joins late: he must get the bot's key over Olm (js-sdk re-sends it to joiners) and hear the notice.
    const joinedAt = Date.now();
    const peer = await startBrowserPeer({ stack, roomId, user: bob.user, toneHz: 660, e2ee: 'keys', chromiumPath: stack.chromiumPath, listen: true });
    suite.peers.push(peer);
    const joinerKeys: string[] = [];
    peer.onMemberKey((identity, { index }) => {
      if (identity.startsWith(`${callUserId}:`)) joinerKeys.push(`${index}@${Date.now() - joinedAt}ms`);
    });
    await alice.waitForMessage(roomId, botUserId, /: this call is being recorded/, 'the join notice in the room', 30_000);
    const said = await suite.bot.waitForLog((e) => e.msg === 'said aloud' && e.roomId === roomId && Date.parse(String(e.time)) > joinedAt, 'the notice for the joiner', 30_000);
    await new Promise((r) => setTimeout(r, 1_500)); // the jitter buffer's tail
    const heard = (await peer.heard()).find((h) => h.identity.startsWith(`${callUserId}:`));
    await alice.sendText(roomId, '!stop');
    await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000);

    console.log(`[measure] joiner got the bot's keys: ${joinerKeys.join(', ') || 'none'}`);
    expect(heard, `the joiner subscribed to the bot's track; page log:\n${peer.pageLog.join('\n')}`).toBeDefined();
    const reference = await synthesiseSpeech(NOTICE, { language: 'en' });
    const found = findUtterance(heard!.pcm, reference);
    console.log(
      `[measure] joiner notice: said ${Date.parse(String(said.time)) - joinedAt} ms after the joiner's peer started; heard with envelope correlation ${found.correlation.toFixed(3)} at +${found.offsetMs} ms of ${(heard!.pcm.length / 48_000).toFixed(1)} s`,
    );
    expect(found.correlation).toBeGreaterThan(0.8);
  });
});
