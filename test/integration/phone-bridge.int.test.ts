// Issue 11 on the real stack with a real SIP phone (baresip from Debian): a phone caller is a
// member of an end-to-end encrypted call. The caller's puppet user has its own device, membership,
// LiveKit identity and media key; an Element Call style browser peer hears the caller (so the
// puppet's key reached it over Olm), the caller hears the peer and not themself (mix-minus) and
// the bot's spoken recording notice, and the recording has the caller's own stem. Proved by content.
import { afterEach, describe, expect, it } from 'vitest';
import { synthesiseSpeech } from '../../src/media/speech/synthesise.ts';
import { Baresip, freePort } from '../helpers/baresip.ts';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { bandShare, dominantFrequency, rms, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir, stemOf } from '../helpers/recordings.ts';
import { findUtterance } from '../helpers/speech.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startBrowserPeer } from '../peers/browser-peer.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { waitForMembership } from '../peers/call-member.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const sipPort = await freePort();
const CONFERENCE = '2000';
const NOTICE = 'This call is being recorded.';
const suite = recorderSuite(stack, {
  recording: { uploadToRoom: false },
  voice: { recordingNotice: NOTICE },
  sip: { enabled: true, port: sipPort, conferenceNumber: CONFERENCE, dialAllowedHosts: ['127.0.0.1'] },
});
const phones: Baresip[] = [];
afterEach(async () => {
  for (const phone of phones.splice(0)) await phone.stop();
});

async function startPhone(toneHz: number, rtpTimeoutS?: number, echo = false): Promise<Baresip> {
  const phone = new Baresip({
    sipPort: await freePort(),
    ctrlPort: await freePort(),
    rtpPortMin: 30_000 + Math.floor(Math.random() * 10_000),
    toneHz,
    ...(rtpTimeoutS ? { rtpTimeoutS } : {}),
    ...(echo ? { echo: true } : {}),
  });
  phones.push(phone);
  await phone.start();
  return phone;
}

/** Sets the room's PIN, then a phone (1000 Hz) calls the conference number and types it. */
async function dialInWithPin(admin: TestClient, roomId: string, pin: string): Promise<{ phone: Baresip; establishedAt: number }> {
  await admin.sendText(roomId, `!pin ${pin}`);
  await botSays(admin, roomId, /conference PIN of this room is set/, 'the PIN confirmation');
  const phone = await startPhone(1000);
  await phone.command('dial', `sip:${CONFERENCE}@127.0.0.1:${sipPort}`);
  await phone.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 'the answered call');
  const establishedAt = Date.now();
  await new Promise((r) => setTimeout(r, 1_000)); // the PIN prompt has begun
  for (const key of `${pin}#`) {
    await phone.command('sndcode', key);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { phone, establishedAt };
}

/** What baresip heard, as 48 kHz mono. */
const heardByPhone = (phone: Baresip) => {
  const [file] = phone.heardFiles();
  if (!file) throw new Error(`baresip recorded nothing; log:\n${phone.log.slice(-2000)}`);
  return decodeToPcm(file);
};

const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string, timeoutMs = 30_000) => client.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

describe('phone callers in an E2EE call', () => {
  it('a caller dials in with a PIN, is heard by the members, hears them and the spoken notice but not themself, and is recorded as a stem', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startBrowserPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', chromiumPath: stack.chromiumPath, listen: true });
    suite.peers.push(peer);
    const { phone, establishedAt } = await dialInWithPin(alice, roomId, '4321');
    const joined = await botSays(alice, roomId, /joined the call by phone/, 'the caller joined', 45_000);
    const puppetUserId = /\(as (@[^)]+)\)/.exec(String(joined.content.body))?.[1];
    expect(puppetUserId).toMatch(/^@recorder-sip_/);
    await waitForMembership(peer.session, puppetUserId!);

    const recordAt = Date.now();
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice');
    await suite.bot.waitForLog((e) => e.msg === 'said aloud', 'the spoken notice', 30_000);
    await new Promise((r) => setTimeout(r, 4_000));

    const heardFromCaller = (await peer.heard()).find((h) => h.identity.startsWith(`${puppetUserId}:`));
    await phone.command('hangup');
    await botSays(alice, roomId, /left the call \(hung up\)/, 'the caller left');
    await waitForMembership(peer.session, puppetUserId!, false);
    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary', 60_000);

    // The member hears the caller: the puppet's key reached the browser over Olm.
    expect(heardFromCaller, `the peer heard the caller's puppet; page log:\n${peer.pageLog.join('\n')}`).toBeDefined();
    const callerTail = heardFromCaller!.pcm.subarray(-48_000 * 2);
    console.log(`[measure] peer hears the caller: ${dominantFrequency(callerTail, 48_000).toFixed(0)} Hz, SNR ${toneSnrDb(callerTail, 48_000, 1000).toFixed(1)} dB`);
    expect(Math.abs(dominantFrequency(callerTail, 48_000) - 1000)).toBeLessThan(10);

    // The caller hears alice, not themself, and the spoken notice after !record.
    const phoneHeard = heardByPhone(phone);
    const steady = phoneHeard.subarray(-48_000 * 3);
    console.log(
      `[measure] caller hears: ${dominantFrequency(steady, 48_000).toFixed(0)} Hz; SNR 440 Hz ${toneSnrDb(steady, 48_000, 440).toFixed(1)} dB, own 1000 Hz ${toneSnrDb(steady, 48_000, 1000).toFixed(1)} dB`,
    );
    expect(Math.abs(dominantFrequency(steady, 48_000) - 440)).toBeLessThan(10);
    expect(toneSnrDb(steady, 48_000, 1000)).toBeLessThan(-20);
    const notice = await synthesiseSpeech(NOTICE, { language: 'en' });
    // The notice rides on alice's tone in the caller's mix: look for it with the tone filtered out,
    // after the !record (before it the caller heard the bridge's own PIN prompt, also speech).
    const sinceRecord = Math.max(0, Math.round(((recordAt - establishedAt) * 48_000) / 1000));
    const speechOnly = notchOut(phoneHeard, 440).subarray(sinceRecord);
    const found = findUtterance(speechOnly, notice);
    console.log(`[measure] caller hears the spoken notice: envelope correlation ${found.correlation.toFixed(3)}, ${found.offsetMs} ms after !record`);
    expect(found.correlation).toBeGreaterThan(0.6);
    expect(bandShare(speechOnly.subarray(found.offsetMs * 48, found.offsetMs * 48 + notice.length), 48_000, 300, 3_400)).toBeGreaterThan(0.5);

    // The recording has the caller as a member of their own.
    const stem = decodeToPcm(stemOf(segmentDir(suite.outputDir, roomId), puppetUserId!));
    console.log(`[measure] caller's stem: ${(stem.length / 48_000).toFixed(1)} s, ${dominantFrequency(stem, 48_000).toFixed(0)} Hz, RMS ${rms(stem).toFixed(0)}`);
    expect(Math.abs(dominantFrequency(stem, 48_000) - 1000)).toBeLessThan(10);
  });

  it('a caller who reaches a room without a call hears why, and is hung up on', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const { phone, establishedAt } = await dialInWithPin(alice, roomId, '97531');
    await botSays(alice, roomId, /called by phone, but there is no call here/, 'the room told');
    await phone.waitEvent((e) => e.type === 'CALL_CLOSED', 'the hang-up', 30_000);
    const closedAfterS = (Date.now() - establishedAt) / 1000;
    const sentence = await synthesiseSpeech('There is no call in this room right now. Please try again later. Goodbye.', { language: 'en' });
    const found = findUtterance(heardByPhone(phone), sentence);
    console.log(`[measure] no call: the caller heard the sentence (envelope correlation ${found.correlation.toFixed(3)} at ${found.offsetMs} ms) and was hung up on ${closedAfterS.toFixed(1)} s after answering`);
    expect(found.correlation).toBeGreaterThan(0.6);
  });

  it('!dial brings a SIP phone into the call and !hangup ends its leg', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startBrowserPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', chromiumPath: stack.chromiumPath, listen: true });
    suite.peers.push(peer);
    const phone = await startPhone(1200);
    await alice.sendText(roomId, `!dial sip:baresip@127.0.0.1:${phone.opts.sipPort}`);
    const joined = await botSays(alice, roomId, /joined the call by phone|failed|cannot|may not/, 'the callee joined', 45_000).catch((err) => {
      console.log(suite.bot.logs.filter((l) => /sip|SIP|dial|phone/.test(l)).slice(-30).join('\n'), phone.log.slice(-3000));
      throw err;
    });
    expect(String(joined.content.body), `baresip log:\n${phone.log.slice(-2500)}\nbot:\n${suite.bot.logs.filter((l) => /"module":"sip/.test(l)).slice(-15).join('\n')}`).toMatch(/joined the call by phone/);
    const puppetUserId = /\(as (@[^)]+)\)/.exec(String(joined.content.body))?.[1];
    await waitForMembership(peer.session, puppetUserId!);
    await new Promise((r) => setTimeout(r, 5_000));
    const heard = (await peer.heard()).find((h) => h.identity.startsWith(`${puppetUserId}:`));
    // Keys pressed from the room reach the phone as RFC 4733 events.
    await alice.sendText(roomId, '!dtmf 4071#');
    await botSays(alice, roomId, /^Pressed 4071# on the line of/, 'the keys pressed');
    const pressed = () => phone.events.filter((e) => e.type === 'CALL_DTMF_START').map((e) => e.param);
    await phone.waitEvent(() => pressed().length >= 5, 'five keys at the phone');
    expect(pressed()).toEqual(['4', '0', '7', '1', '#']);
    await alice.sendText(roomId, '!hangup all');
    await phone.waitEvent((e) => e.type === 'CALL_CLOSED', 'the hang-up at the phone');
    await botSays(alice, roomId, /left the call/, 'the callee left');

    expect(heard, 'the peer heard the dialled phone').toBeDefined();
    const tail = heard!.pcm.subarray(-48_000 * 2);
    expect(Math.abs(dominantFrequency(tail, 48_000) - 1200)).toBeLessThan(10);
    const phoneHeard = heardByPhone(phone).subarray(-48_000 * 2);
    console.log(`[measure] dial-out: peer hears ${dominantFrequency(tail, 48_000).toFixed(0)} Hz, phone hears ${dominantFrequency(phoneHeard, 48_000).toFixed(0)} Hz (own 1200 Hz at ${toneSnrDb(phoneHeard, 48_000, 1200).toFixed(1)} dB)`);
    expect(Math.abs(dominantFrequency(phoneHeard, 48_000) - 440)).toBeLessThan(10);
    expect(toneSnrDb(phoneHeard, 48_000, 1200)).toBeLessThan(-20);
  });

  it('measures mouth to ear through the bridge: a tone from a member, echoed by the phone, back to another member', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    const speaker = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 700, e2ee: 'keys', silent: true });
    suite.peers.push(speaker);
    const listener = await startBrowserPeer({ stack, roomId, user: bob.user, toneHz: 300, e2ee: 'keys', chromiumPath: stack.chromiumPath, listen: true });
    suite.peers.push(listener);
    const phone = await startPhone(0, undefined, true);
    await alice.sendText(roomId, `!dial sip:baresip@127.0.0.1:${phone.opts.sipPort}`);
    const joined = await botSays(alice, roomId, /joined the call by phone/, 'the echoing phone joined', 45_000);
    const puppetUserId = /\(as (@[^)]+)\)/.exec(String(joined.content.body))?.[1];
    await waitForMembership(listener.session, puppetUserId!);
    await new Promise((r) => setTimeout(r, 4_000)); // keys exchanged, jitter buffers settled
    const toneAt = speaker.setTone(true);
    await new Promise((r) => setTimeout(r, 3_000));
    const heard = await listener.heard();
    await alice.sendText(roomId, '!hangup all');
    await botSays(alice, roomId, /left the call/, 'the phone left');

    const echoed = heard.find((h) => h.identity.startsWith(`${puppetUserId}:`));
    expect(echoed, 'the listener heard the phone').toBeDefined();
    // Before the tone the phone echoed the bridge's own greeting ("Connecting you to the call"): look after it.
    const roundTrip = echoed!.startedAt + toneOnsetMs(echoed!.pcm, 700, toneAt - echoed!.startedAt) - toneAt;
    console.log(
      `[measure] mouth to ear through the phone and back: alice's tone left her at ${toneAt}, came back from the echoing phone to bob ${Math.round(roundTrip)} ms later ` +
        `(member -> SFU -> caller's puppet -> SIP leg -> baresip echo -> SIP leg -> puppet -> SFU -> member: about ${Math.round(roundTrip / 2)} ms each way, on loopback)`,
    );
    expect(roundTrip).toBeGreaterThan(0);
  });

  // Last: it kills the suite's recorder.
  it('when the worker is killed (-9), the delayed leave removes the caller from the call and the phone leg ends', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startBrowserPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys', chromiumPath: stack.chromiumPath });
    suite.peers.push(peer);
    const phone = await startPhone(1000, 5);
    await alice.sendText(roomId, `!dial sip:baresip@127.0.0.1:${phone.opts.sipPort}`);
    const joined = await botSays(alice, roomId, /joined the call by phone/, 'the callee joined', 45_000);
    const puppetUserId = /\(as (@[^)]+)\)/.exec(String(joined.content.body))?.[1];
    await waitForMembership(peer.session, puppetUserId!);

    const killedAt = Date.now();
    await suite.bot.stop('SIGKILL');
    await waitForMembership(peer.session, puppetUserId!, false, 40_000);
    const goneAfterMs = Date.now() - killedAt;
    await phone.waitEvent((e) => e.type === 'CALL_CLOSED', 'the phone leg to end', 30_000);
    console.log(`[measure] worker killed: the caller's membership was gone after ${goneAfterMs} ms (delayed leave), the phone's leg ended after ${Date.now() - killedAt} ms (its RTP timeout, 5 s)`);
  });
});

/**
 * Milliseconds into `pcm`, from `fromMs` on, where a steady tone of `hz` begins: the first of five
 * 10 ms windows in a row whose Goertzel amplitude stands out (speech passes 700 Hz only briefly).
 */
function toneOnsetMs(pcm: Int16Array, hz: number, fromMs = 0): number {
  const window = 480;
  const coeff = 2 * Math.cos((2 * Math.PI * hz) / 48_000);
  let run = 0;
  for (let w = Math.max(0, Math.floor(fromMs / 10)); (w + 1) * window <= pcm.length; w++) {
    let [s1, s2] = [0, 0];
    for (let i = w * window; i < (w + 1) * window; i++) [s2, s1] = [s1, pcm[i]! + coeff * s1 - s2];
    const amplitude = Math.sqrt(s1 * s1 + s2 * s2 - coeff * s1 * s2) / (window / 2);
    run = amplitude > 1_000 ? run + 1 : 0;
    if (run === 5) return (w - 4) * 10;
  }
  throw new Error(`no ${hz} Hz onset in ${(pcm.length / 48_000).toFixed(1)} s`);
}

/** The signal with a narrow band around `hz` removed (a steady tone under speech). */
function notchOut(pcm: Int16Array, hz: number): Int16Array {
  // Second-order IIR notch (RBJ cookbook), Q 5.
  const w0 = (2 * Math.PI * hz) / 48_000;
  const alpha = Math.sin(w0) / (2 * 5);
  const [b0, b1, b2, a0, a1, a2] = [1, -2 * Math.cos(w0), 1, 1 + alpha, -2 * Math.cos(w0), 1 - alpha];
  const out = new Int16Array(pcm.length);
  let [x1, x2, y1, y2] = [0, 0, 0, 0];
  for (let i = 0; i < pcm.length; i++) {
    const x = pcm[i]!;
    const y = (b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
    out[i] = Math.max(-32768, Math.min(32767, Math.round(y)));
    [x2, x1, y2, y1] = [x1, x, y1, y];
  }
  return out;
}
