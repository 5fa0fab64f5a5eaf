// Issue 14 (items 2, 3, 4, 6) on the real stack, in an E2EE room, checked by content: names as the
// room shows them (two members called "Sam" disambiguated) in the manifest, the summary and the
// files' tags; !mark and !pause/!resume as chapters in every file, the paused span absent from all
// of them (a tone played only while paused is nowhere) and the files one piece; !optout removes a
// member's tone from the mix and their stem from that moment (present before) and their picture
// from the grid; a member who joins while recording is told by name; the consent ledger in the
// manifest; !status; and a room that requires consent records nobody until they !optin.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { decodeToPcm, probeDuration } from '../helpers/audio-files.ts';
import { toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { pullRtmpAudio } from '../helpers/stream-receivers.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
// carol's 990 Hz is no harmonic or intermodulation product of 440 and 660 (880 is alice's second harmonic).
const TONES = { alice: 440, bob: 660, carol: 990 } as const;
const streamKey = `${stack.rtmp.goodKey}-consent`;
const suite = recorderSuite(stack, {
  recording: { uploadToRoom: false },
  streaming: { destinations: { ingest: { url: `${stack.rtmp.url}/${streamKey}`, kind: 'audio' } }, retryInitialDelayMs: 500, retryMaxDelayMs: 2_000 },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rmsOf = (s: Int16Array) => Math.sqrt(s.reduce((a, v) => a + v * v, 0) / Math.max(1, s.length));
/** Pulls the live stream back for `ms` (after a second to settle) and returns that audio. */
async function listen(ms: number): Promise<Int16Array> {
  const receiver = pullRtmpAudio(`${stack.rtmp.url}/${streamKey}`, stack.ffmpegPath);
  try {
    const total = ((ms + 1_000) * 48_000) / 1000;
    return await waitFor(async () => (receiver.samples().length >= total ? receiver.samples().subarray(48_000, total) : undefined), `${ms} ms of the stream`, ms + 20_000, 200);
  } finally {
    await receiver.stop();
  }
}
const slice = (pcm: Int16Array, fromMs: number, toMs: number) => pcm.subarray(Math.max(0, (fromMs * 48) | 0), (toMs * 48) | 0);

async function named(prefix: string, displayName: string): Promise<TestClient> {
  const client = new TestClient(await registerUser(stack, prefix));
  await client.request('PUT', `/_matrix/client/v3/profile/${encodeURIComponent(client.user.userId)}/displayname`, { displayname: displayName });
  return client;
}

interface Probe {
  chapters: Array<{ start_time: string; tags: { title: string } }>;
  format: { tags?: Record<string, string> };
  streams: Array<{ tags?: Record<string, string> }>;
}
const probe = (path: string) => JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_chapters', '-show_format', '-show_streams', '-of', 'json', path], { encoding: 'utf8' })) as Probe;
/** Tags as a player reads them: Ogg keeps them on the stream, Matroska on the file; keys in any case. */
const tagsOf = (p: Probe) => Object.fromEntries(Object.entries({ ...p.format.tags, ...p.streams[0]?.tags }).map(([k, v]) => [k.toUpperCase(), v]));

describe('pause, chapters, consent and names', () => {
  it('a mark and a pause become chapters; the paused span is in no file; an opt-out removes voice and picture from then on; names and the ledger', async () => {
    const alice = await named('alice', 'Alice');
    const bob = await named('bob', 'Sam');
    const carol = await named('carol', 'Sam');
    const roomId = await createCallRoom(alice, { encrypted: true, name: 'Weekly sync', invite: [bob.user.userId, carol.user.userId] });
    await Promise.all([joinRoom(bob, roomId), joinRoom(carol, roomId)]);
    await inviteBot(alice, roomId, botUserId);
    // Cameras: alice red, bob green (limited-range BT.601); carol is audio only and plays only while paused.
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: TONES.alice, e2ee: 'keys', video: { width: 320, height: 240, fps: 15, yuv: [81, 90, 240] } }));
    suite.peers.push(await startRtcPeer({ stack, roomId, user: bob.user, toneHz: TONES.bob, e2ee: 'keys', video: { width: 320, height: 240, fps: 15, yuv: [145, 54, 34] } }));

    await alice.sendText(roomId, '!record video');
    const started = await alice.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice');
    expect(String(started.content.body)).toContain('!optout');
    const carolPeer = await startRtcPeer({ stack, roomId, user: carol.user, toneHz: TONES.carol, e2ee: 'keys', silent: true });
    suite.peers.push(carolPeer);
    const joinNotice = await alice.waitForMessage(roomId, botUserId, new RegExp(`\\(${carol.user.userId.replace(/[.]/g, '\\.')}\\): this call is being recorded`), 'the notice naming carol');
    console.log(`[measure] join notice: ${String(joinNotice.content.body)}`);

    await sleep(2_000);
    await alice.sendText(roomId, '!mark Intro over');
    await alice.waitForMessage(roomId, botUserId, /^Chapter "Intro over" marked/, 'the mark notice');
    await sleep(2_000);
    const optoutSentAt = Date.now();
    await bob.sendText(roomId, '!optout');
    await alice.waitForMessage(roomId, botUserId, /opted out: from now on/, 'the opt-out notice');
    const optoutToldAt = Date.now();
    await sleep(3_000);
    await alice.sendText(roomId, '!pause');
    await alice.waitForMessage(roomId, botUserId, /^Recording paused by/, 'the pause notice');
    await sleep(500);
    carolPeer.setTone(true);
    await sleep(3_000);
    carolPeer.setTone(false);
    await sleep(500);
    await alice.sendText(roomId, '!resume');
    await alice.waitForMessage(roomId, botUserId, /^Recording resumed by/, 'the resume notice');
    await sleep(3_000);
    await alice.sendText(roomId, '!status');
    const status = String((await alice.waitForMessage(roomId, botUserId, /is in the call for/, 'the status reply')).content.body);
    console.log(`[measure] !status:\n${status}`);
    expect(status).toContain('Recorded: audio (the mix and one file per speaker) and video (cameras, screen shares and name cards).');
    for (const who of [alice, bob, carol]) expect(status).toContain(who.user.userId);
    expect(status).toContain(`Not recorded (opted out, or not opted in): Sam (${bob.user.userId}).`);
    expect(status).not.toContain('Paused by');
    const stopSentAt = Date.now();
    await alice.sendText(roomId, '!stop');
    const summary = String((await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000)).content.body);
    console.log(`[measure] summary:\n${summary}`);

    const segment = segmentDir(suite.outputDir, roomId);
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
    const start = Date.parse(manifest.startedAt);
    const ledger = manifest.consent!;
    console.log(`[measure] ledger: ${JSON.stringify(ledger)}`);
    console.log(`[measure] chapters: ${JSON.stringify(manifest.segments[0]!.chapters)}`);

    // Names: as the room shows them, the two Sams told apart by their Matrix IDs.
    const shown = { alice: 'Alice', bob: `Sam (${bob.user.userId})`, carol: `Sam (${carol.user.userId})` };
    const spans = manifest.segments[0]!.participants;
    expect(spans.find((p) => p.userId === alice.user.userId)?.displayName).toBe(shown.alice);
    expect(spans.find((p) => p.userId === bob.user.userId)?.displayName).toBe(shown.bob);
    expect(spans.find((p) => p.userId === carol.user.userId)?.displayName).toBe(shown.carol);
    expect(summary).toContain(`Alice (${alice.user.userId})`);
    expect(summary).toContain(shown.bob);
    expect(summary).toContain(`Left out for all or part of the call (their choice): ${shown.bob}.`);

    // The ledger: everyone in the call, how and when they were told, bob's opt-out, the pause.
    const person = (userId: string) => ledger.people.find((p) => p.userId === userId)!;
    expect(ledger.mode).toBe('notice');
    expect(person(alice.user.userId).toldBy).toBe('start notice');
    expect(person(bob.user.userId).toldBy).toBe('start notice');
    expect(person(carol.user.userId).toldBy).toBe('join notice');
    expect(Date.parse(person(carol.user.userId).toldAt!)).toBeGreaterThan(Date.parse(person(alice.user.userId).toldAt!));
    const bobOut = person(bob.user.userId).choices;
    expect(bobOut.map((c) => c.choice)).toEqual(['optout']);
    const optoutAt = Date.parse(bobOut[0]!.at);
    expect(optoutAt).toBeGreaterThanOrEqual(optoutSentAt - 1_000);
    expect(optoutAt).toBeLessThanOrEqual(optoutToldAt);
    expect(ledger.pauses).toHaveLength(1);
    const pause = ledger.pauses[0]!;
    const pausedMs = Date.parse(pause.to!) - Date.parse(pause.from);

    // Chapters: the mark and the resume, in the manifest and in every file.
    const chapters = manifest.segments[0]!.chapters!;
    expect(chapters.map((c) => c.title)).toEqual(['Intro over', expect.stringMatching(/^Resumed \(after a pause of \d+s\)$/)]);
    const resumeMs = chapters[1]!.startMs;
    expect(Math.abs(resumeMs - (Date.parse(pause.from) - start))).toBeLessThan(300);
    const files = manifest.files.map((f) => join(segment, f.name));
    for (const file of files) {
      const p = probe(file);
      expect(p.chapters.map((c) => c.tags.title), `chapters of ${file}`).toEqual(['Start', 'Intro over', chapters[1]!.title]);
      expect(Math.abs(Number(p.chapters[2]!.start_time) * 1000 - resumeMs)).toBeLessThan(30);
    }

    // One piece, without the paused span: every file lasts (stop - start - pause).
    const expectedMs = stopSentAt - start - pausedMs;
    console.log(`[measure] paused ${pausedMs} ms; segment ${manifest.segments[0]!.durationMs} ms, expected about ${expectedMs} ms`);
    expect(Math.abs(manifest.segments[0]!.durationMs - expectedMs)).toBeLessThan(1_000);
    for (const file of files) expect(Math.abs(probeDuration(file) * 1000 - manifest.segments[0]!.durationMs), file).toBeLessThan(500);

    // Stems titled with their names; carol's (her tone played only while paused) holds nothing but silence.
    const stems = manifest.files.filter((f) => f.kind === 'stem');
    expect(stems.map((s) => s.userId).sort()).toEqual([alice.user.userId, bob.user.userId, carol.user.userId].sort());
    const carolPcm = decodeToPcm(join(segment, stems.find((s) => s.userId === carol.user.userId)!.name), stack.ffmpegPath);
    console.log(`[measure] carol's stem (tone only while paused): RMS ${rmsOf(carolPcm).toFixed(1)}`);
    expect(rmsOf(carolPcm)).toBeLessThan(5);
    expect(stems.find((s) => s.userId === bob.user.userId)!.displayName).toBe(shown.bob);
    const bobStem = join(segment, stems.find((s) => s.userId === bob.user.userId)!.name);
    const bobTags = tagsOf(probe(bobStem));
    expect([bobTags.TITLE, bobTags.MATRIX_USER_ID]).toEqual([shown.bob, bob.user.userId]);
    expect(tagsOf(probe(join(segment, 'mixed.ogg'))).ARTIST).toContain(`Alice (${alice.user.userId})`);

    // The opt-out, by content: bob's tone in his stem and the mix before it, gone after it.
    const optoutMs = optoutAt - start; // before the pause: file time is wall time
    const mixed = decodeToPcm(join(segment, 'mixed.ogg'), stack.ffmpegPath);
    const bobPcm = decodeToPcm(bobStem, stack.ffmpegPath);
    const before = { stem: toneSnrDb(slice(bobPcm, optoutMs - 2_500, optoutMs - 300), 48_000, TONES.bob), mix: toneSnrDb(slice(mixed, optoutMs - 2_500, optoutMs - 300), 48_000, TONES.bob) };
    const after = { stemRms: rmsOf(slice(bobPcm, optoutMs + 100, manifest.segments[0]!.durationMs)), mix: toneSnrDb(slice(mixed, optoutMs + 100, manifest.segments[0]!.durationMs - 200), 48_000, TONES.bob) };
    console.log(`[measure] bob 660 Hz before the opt-out: stem ${before.stem.toFixed(1)} dB, mix ${before.mix.toFixed(1)} dB; after: stem RMS ${after.stemRms.toFixed(1)}, mix ${after.mix.toFixed(1)} dB`);
    expect(before.stem).toBeGreaterThan(-3);
    expect(before.mix).toBeGreaterThan(-10);
    expect(after.stemRms).toBeLessThan(5);
    expect(after.mix).toBeLessThan(-40);
    // Where exactly the stem went quiet, against when the bridge took the command.
    let lastLoud = 0;
    for (let ms = 0; (ms + 20) * 48 <= bobPcm.length; ms += 20) if (rmsOf(slice(bobPcm, ms, ms + 20)) > 1_000) lastLoud = ms + 20;
    console.log(`[measure] bob's stem goes quiet at ${lastLoud} ms; the opt-out was taken at ${optoutMs} ms (sent at ${optoutSentAt - start} ms)`);
    expect(Math.abs(lastLoud - optoutMs)).toBeLessThan(100);

    // The paused span: carol's tone, played only then, is nowhere in the mix; alice's runs on across the resume.
    // Against a band nobody plays (1045 Hz, between carol's and 440 + 660): the cuts of the pause and
    // the opt-out splash a little energy over every band (CI once read -39.4 dB at 990 Hz with
    // carol's stem silent). A leak of 20 ms of carol's tone alone reads about -31 dB.
    const carolInMix = toneSnrDb(mixed, 48_000, TONES.carol);
    const nobodysBand = toneSnrDb(mixed, 48_000, 1_045);
    console.log(`[measure] carol's ${TONES.carol} Hz (played only while paused) in the whole mix: ${carolInMix.toFixed(1)} dB; 1045 Hz, which nobody plays: ${nobodysBand.toFixed(1)} dB`);
    expect(carolInMix).toBeLessThan(Math.max(-40, nobodysBand + 3));
    expect(toneSnrDb(slice(mixed, resumeMs - 1_000, resumeMs + 1_000), 48_000, TONES.alice)).toBeGreaterThan(-3);
    // No stretch of silence stands for the pause: at most a jitter-buffer refill (a late packet
    // costs up to ~100 ms of silence on this loaded 2-core machine, at any moment of the call).
    const quiet: number[] = [];
    for (let ms = resumeMs - 500; ms < resumeMs + 500; ms += 20) if (rmsOf(slice(mixed, ms, ms + 20)) < 1_000) quiet.push(ms);
    console.log(`[measure] quiet 20 ms windows within 500 ms of the resume point (${resumeMs} ms): ${JSON.stringify(quiet)}`);
    expect(quiet.length).toBeLessThanOrEqual(6);

    // The grid after the opt-out: alice's red tile, bob's tile empty grey, nothing green anywhere.
    const video = join(segment, 'composite.mkv');
    const at = (optoutMs + 1_500) / 1000;
    const yuv = execFileSync(stack.ffmpegPath, ['-v', 'error', '-ss', String(at), '-i', video, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], { maxBuffer: 1 << 24 });
    const tile = (x: number, y: number) => ({ y: yuv[y * 1280 + x]!, u: yuv[1280 * 720 + (y / 2) * 640 + x / 2]!, v: yuv[1280 * 720 * 1.25 + (y / 2) * 640 + x / 2]! });
    // Three 16:9 tiles, two above and one centred below; sampled near their tops, away from the
    // words in the middle of a "not recorded" tile and from a name card's disc.
    const centres = [tile(320, 100), tile(960, 100), tile(640, 450)];
    console.log(`[measure] grid at ${at.toFixed(1)} s (Y, U, V): ${centres.map((c) => `${c.y}, ${c.u}, ${c.v}`).join(' | ')}`);
    expect(centres.some((c) => Math.abs(c.y - 81) < 10 && Math.abs(c.v - 240) < 10)).toBe(true);
    expect(centres.some((c) => Math.abs(c.y - 40) < 6 && Math.abs(c.u - 128) < 6 && Math.abs(c.v - 128) < 6)).toBe(true);
    expect(centres.some((c) => Math.abs(c.y - 145) < 15 && c.u < 80)).toBe(false);
  });

  it('a room that requires consent records nobody until they type !optin', async () => {
    const alice = await named('alice', 'Alice');
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    await alice.sendText(roomId, '!consent required');
    await alice.waitForMessage(roomId, botUserId, /^Consent in this room is now required/, 'the consent reply');
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: TONES.alice, e2ee: 'keys' }));
    await alice.sendText(roomId, '!record');
    const started = await alice.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice');
    expect(String(started.content.body)).toContain('nobody is recorded until they type !optin');
    await sleep(3_000);
    await alice.sendText(roomId, '!optin');
    await alice.waitForMessage(roomId, botUserId, /opted in: their voice and picture are recorded from now on/, 'the opt-in notice');
    await sleep(3_000);
    await alice.sendText(roomId, '!stop');
    await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000);

    const segment = segmentDir(suite.outputDir, roomId);
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
    const optinAt = Date.parse(manifest.consent!.people.find((p) => p.userId === alice.user.userId)!.choices[0]!.at) - Date.parse(manifest.startedAt);
    expect(manifest.consent!.mode).toBe('required');
    expect(manifest.consent!.modeChanges[0]).toMatchObject({ mode: 'required', by: 'the room setting' });
    const mixed = decodeToPcm(join(segment, 'mixed.ogg'), stack.ffmpegPath);
    const beforeRms = rmsOf(slice(mixed, 0, optinAt - 20));
    const after = toneSnrDb(slice(mixed, optinAt + 300, manifest.segments[0]!.durationMs - 200), 48_000, TONES.alice);
    console.log(`[measure] consent required: mix RMS before !optin ${beforeRms.toFixed(1)} over ${optinAt} ms; 440 Hz after ${after.toFixed(1)} dB`);
    expect(beforeRms).toBeLessThan(1);
    expect(after).toBeGreaterThan(-3);
    // Her stem begins with silence up to the opt-in, then her tone.
    const stem = manifest.files.find((f) => f.kind === 'stem' && f.userId === alice.user.userId)!;
    const stemPcm = decodeToPcm(join(segment, stem.name), stack.ffmpegPath);
    expect(rmsOf(slice(stemPcm, 0, optinAt - 20))).toBeLessThan(1);
  });

  it('a live stream honours them too: an opted-out member leaves it, and a pause silences it', async () => {
    const alice = await named('alice', 'Alice');
    const bob = await named('bob', 'Bob');
    const roomId = await createCallRoom(alice, { encrypted: true, invite: [bob.user.userId] });
    await joinRoom(bob, roomId);
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: TONES.alice, e2ee: 'keys' }));
    suite.peers.push(await startRtcPeer({ stack, roomId, user: bob.user, toneHz: TONES.bob, e2ee: 'keys' }));
    await alice.sendText(roomId, '!stream ingest');
    await alice.waitForMessage(roomId, botUserId, /^Streaming the call \(audio\) to/, 'the stream going live', 45_000);

    const both = await listen(3_000);
    await bob.sendText(roomId, '!optout');
    await alice.waitForMessage(roomId, botUserId, /opted out: from now on/, 'the opt-out notice');
    await sleep(500);
    const withoutBob = await listen(3_000);
    await alice.sendText(roomId, '!pause');
    await alice.waitForMessage(roomId, botUserId, /^Recording paused by/, 'the pause notice');
    await sleep(500);
    const paused = await listen(3_000);
    const levels = {
      both: [toneSnrDb(both, 48_000, TONES.alice), toneSnrDb(both, 48_000, TONES.bob)],
      withoutBob: [toneSnrDb(withoutBob, 48_000, TONES.alice), toneSnrDb(withoutBob, 48_000, TONES.bob)],
      pausedRms: rmsOf(paused),
    };
    console.log(`[measure] stream: 440/660 Hz before the opt-out ${levels.both.map((d) => d.toFixed(1)).join('/')} dB, after ${levels.withoutBob.map((d) => d.toFixed(1)).join('/')} dB; RMS while paused ${levels.pausedRms.toFixed(1)}`);
    expect(levels.both[0]).toBeGreaterThan(-10);
    expect(levels.both[1]).toBeGreaterThan(-10);
    expect(levels.withoutBob[0]).toBeGreaterThan(-3);
    expect(levels.withoutBob[1]).toBeLessThan(-40);
    expect(levels.pausedRms).toBeLessThan(5);
    await alice.sendText(roomId, '!stream stop');
    await alice.waitForMessage(roomId, botUserId, /^Stopped streaming to ingest/, 'the stream stopped');
  });
});
