// Issue 6 on the real stack, in an E2EE room: three speakers with different tones join and leave
// at known times; the mix holds each tone in its windows, each stem only its speaker, aligned to
// the recording's start; the files' durations match the manifest; the attachment posted into the
// room downloads and decrypts to the bytes of the stored file.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptAttachment, type EncryptedFile } from '../../src/delivery/attachment-crypto.ts';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { layoutTiles } from '../../src/media/video/layout.ts';
import { decodeToPcm, probeDuration } from '../helpers/audio-files.ts';
import { toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const TONES = { alice: 440, bob: 660, carol: 880 } as const;
const suite = recorderSuite(stack);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** Offset (ms from the start of the PCM) of the first 20 ms window holding the tone, or -1. */
function onsetMs(pcm: Int16Array, fromMs = 0): number {
  for (let i = Math.floor(fromMs / 20); (i + 1) * 960 <= pcm.length; i++) if (rmsOf(pcm.subarray(i * 960, (i + 1) * 960)) > 1000) return i * 20;
  return -1;
}
/** Offset of the first silent 20 ms window after `fromMs`, or -1. */
function offsetMs(pcm: Int16Array, fromMs: number): number {
  for (let i = Math.floor(fromMs / 20); (i + 1) * 960 <= pcm.length; i++) if (rmsOf(pcm.subarray(i * 960, (i + 1) * 960)) < 100) return i * 20;
  return -1;
}
const rmsOf = (s: Int16Array) => Math.sqrt(s.reduce((a, v) => a + v * v, 0) / s.length);
/** The PCM between two offsets (ms). */
const slice = (pcm: Int16Array, fromMs: number, toMs: number) => pcm.subarray((fromMs * 48) | 0, (toMs * 48) | 0);

/** Limited-range BT.601 Y, U, V of the test cameras: red, and blue for a shared screen. */
const RED: [number, number, number] = [81, 90, 240];
const BLUE: [number, number, number] = [41, 240, 110];
type Box = { x: number; y: number; width: number; height: number };
const W = 1280;
const H = 720;
const centreOf = (r: Box): Box => ({ x: r.x + r.width / 2 - 4, y: r.y + r.height / 2 - 4, width: 8, height: 8 });
/** Mean Y, U and V of a box of a 1280x720 I420 picture. */
function meanAt(yuv: Uint8Array, r: Box): { y: number; u: number; v: number } {
  const sum = { y: 0, u: 0, v: 0 };
  let n = 0;
  for (let y = Math.round(r.y); y < Math.round(r.y + r.height); y++) {
    for (let x = Math.round(r.x); x < Math.round(r.x + r.width); x++) {
      const c = (y >> 1) * (W / 2) + (x >> 1);
      sum.y += yuv[y * W + x]!;
      sum.u += yuv[W * H + c]!;
      sum.v += yuv[W * H * 1.25 + c]!;
      n++;
    }
  }
  return { y: sum.y / n, u: sum.u / n, v: sum.v / n };
}
/** Pixels of the box brighter than `luma` (text drawn on a tile). */
function brightPixels(yuv: Uint8Array, r: Box, luma: number): number {
  let n = 0;
  for (let y = Math.round(r.y); y < Math.round(r.y + r.height); y++) for (let x = Math.round(r.x); x < Math.round(r.x + r.width); x++) if (yuv[y * W + x]! > luma) n++;
  return n;
}
/** Mean V along the middle of a tile's top edge, where the speaking border is drawn. */
const topBorder = (yuv: Uint8Array, r: Box) => meanAt(yuv, { x: r.x + r.width * 0.3, y: r.y, width: r.width * 0.4, height: 4 }).v;
const fmt = (c: { y: number; u: number; v: number }) => `${c.y.toFixed(0)},${c.u.toFixed(0)},${c.v.toFixed(0)}`;

describe('recording', () => {
  it('three speakers joining and leaving: tones in their windows, stems aligned, durations right, attachment decrypts to the stored bytes', async () => {
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(async (n) => new TestClient(await registerUser(stack, n))));
    const roomId = await createCallRoom(alice!, { encrypted: true, invite: [bob!.user.userId, carol!.user.userId] });
    await Promise.all([joinRoom(bob!, roomId), joinRoom(carol!, roomId)]);
    await inviteBot(alice!, roomId, botUserId);
    const alicePeer = await startRtcPeer({ stack, roomId, user: alice!.user, toneHz: TONES.alice, e2ee: 'keys', silent: true });
    suite.peers.push(alicePeer);

    await alice!.sendText(roomId, '!record');
    await alice!.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice');
    // Tone switches happen a second or more after each peer is in the call, so that they measure
    // the recorder's alignment and not how long a subscription takes.
    await sleep(1_000);
    const aliceOn = alicePeer.setTone(true);
    const bobPeer = await startRtcPeer({ stack, roomId, user: bob!.user, toneHz: TONES.bob, e2ee: 'keys', silent: true });
    suite.peers.push(bobPeer);
    await sleep(2_000);
    const bobOn = bobPeer.setTone(true);
    const carolPeer = await startRtcPeer({ stack, roomId, user: carol!.user, toneHz: TONES.carol, e2ee: 'keys', silent: true });
    suite.peers.push(carolPeer);
    await sleep(2_000);
    const carolOn = carolPeer.setTone(true);
    await sleep(2_000);
    const bobOff = bobPeer.setTone(false);
    await sleep(500);
    await bobPeer.stop();
    await sleep(2_500);
    const stopSentAt = Date.now();
    await alice!.sendText(roomId, '!stop');
    await alice!.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000);

    const roomDir = join(suite.outputDir, readdirSync(suite.outputDir).find((d) => d.includes(roomId.slice(1, 10)))!);
    const segment = join(roomDir, readdirSync(roomDir)[0]!, 'segment-0');
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
    const start = Date.parse(manifest.startedAt);
    const stemOf = (userId: string) => manifest.files.find((f) => f.kind === 'stem' && f.userId === userId)!;
    const pcmOf = (name: string) => decodeToPcm(join(segment, name), stack.ffmpegPath);

    // Each stem: its tone starts (and bob's stops) where the peer switched it, on the recording's clock.
    const expected = { alice: aliceOn - start, bob: bobOn - start, carol: carolOn - start, bobOff: bobOff - start };
    const stems = { alice: pcmOf(stemOf(alice!.user.userId).name), bob: pcmOf(stemOf(bob!.user.userId).name), carol: pcmOf(stemOf(carol!.user.userId).name) };
    const measured = { alice: onsetMs(stems.alice), bob: onsetMs(stems.bob), carol: onsetMs(stems.carol), bobOff: offsetMs(stems.bob, expected.bob + 500) };
    console.log(`[measure] tone switches, expected vs in the stems (ms from start): ${JSON.stringify(expected)} vs ${JSON.stringify(measured)}`);
    for (const k of Object.keys(expected) as Array<keyof typeof expected>) expect(Math.abs(measured[k] - expected[k]), `${k} offset`).toBeLessThan(100);
    // A stem holds only its speaker: while they play, every other tone is at least 40 dB below
    // their own; before they play, silence.
    const stopAt = stopSentAt - start;
    const playing = { alice: [expected.alice, stopAt], bob: [expected.bob, expected.bobOff], carol: [expected.carol, stopAt] } as const;
    for (const [name, pcm] of Object.entries(stems) as Array<[keyof typeof TONES, Int16Array]>) {
      const [from, to] = playing[name];
      const own = slice(pcm, from + 200, to - 200);
      for (const other of Object.values(TONES).filter((t) => t !== TONES[name])) expect(toneSnrDb(own, 48_000, other), `${other} Hz in ${name}'s stem`).toBeLessThan(-40);
      expect(rmsOf(slice(pcm, 0, from - 100)), `${name}'s stem before they play`).toBeLessThan(100);
    }

    // The mix, in windows away from the switches: exactly the tones that were playing.
    const mixed = pcmOf(manifest.files.find((f) => f.kind === 'mixed')!.name);
    const phases = [
      { from: expected.alice + 200, to: expected.bob - 200, playing: ['alice'] },
      { from: expected.bob + 200, to: expected.carol - 200, playing: ['alice', 'bob'] },
      { from: expected.carol + 200, to: expected.bobOff - 200, playing: ['alice', 'bob', 'carol'] },
      { from: expected.bobOff + 200, to: stopAt - 200, playing: ['alice', 'carol'] },
    ];
    for (const phase of phases) {
      const window = slice(mixed, phase.from, phase.to);
      const levels = Object.fromEntries(Object.entries(TONES).map(([name, hz]) => [name, toneSnrDb(window, 48_000, hz)]));
      console.log(`[measure] mix ${phase.from}-${phase.to} ms: ${Object.entries(levels).map(([n, db]) => `${n} ${db.toFixed(1)} dB`).join(', ')}`);
      // Playing tones share the power (-3 dB for one of two, -3..-6 dB for one of three); absent ones sit far below.
      for (const [name, db] of Object.entries(levels)) {
        if (phase.playing.includes(name)) expect(db, `${name} in ${phase.playing.join('+')}`).toBeGreaterThan(-10);
        else expect(db, `${name} absent from ${phase.playing.join('+')}`).toBeLessThan(-30);
      }
    }

    // Durations: each file as long as the segment, which lasted until the !stop.
    const segmentMs = manifest.segments[0]!.durationMs;
    expect(Math.abs(segmentMs - (stopSentAt - start))).toBeLessThan(1_000);
    for (const file of manifest.files) {
      if (!file.name.endsWith('.ogg')) continue;
      const probed = probeDuration(join(segment, file.name)) * 1000;
      expect(Math.abs(probed - segmentMs), `${file.name}: ${probed} ms in the file, ${segmentMs} ms in the manifest`).toBeLessThan(500);
    }
    const bobSpan = manifest.segments[0]!.participants.find((p) => p.userId === bob!.user.userId)!;
    expect(bobSpan.leftMs).toBeGreaterThan(bobSpan.joinedMs);

    // The room got the mix as an encrypted attachment: alice's own client decrypts the event,
    // downloads the ciphertext and decrypts it to the exact bytes of the stored file.
    const mixName = manifest.files.find((f) => f.kind === 'mixed')!.name;
    const room = alicePeer.client.getRoom(roomId)!;
    const event = await waitFor(
      async () => room.getLiveTimeline().getEvents().find((e) => e.getSender()?.startsWith(`@${stack.appservice.botLocalpart}-call:`) && e.getContent().body === mixName),
      'the mix in the room',
      30_000,
      200,
    );
    expect(event.isEncrypted()).toBe(true);
    const file = event.getContent().file as EncryptedFile;
    const [server, mediaId] = file.url.slice('mxc://'.length).split('/');
    const response = await fetch(`${stack.synapse.url}/_matrix/client/v1/media/download/${server}/${mediaId}`, { headers: { authorization: `Bearer ${alice!.user.accessToken}` } });
    expect(response.status).toBe(200);
    const ciphertext = Buffer.from(await response.arrayBuffer());
    expect(decryptAttachment(ciphertext, file).equals(readFileSync(join(segment, mixName)))).toBe(true);
  });
  it('video: Element Call\'s layout, a screen share large, a camera and a name card beside it, the speaker highlighted as the tones alternate', async () => {
    const [alice, bob] = await Promise.all(['alice', 'bob'].map(async (n) => new TestClient(await registerUser(stack, n))));
    const roomId = await createCallRoom(alice!, { encrypted: true, invite: [bob!.user.userId] });
    await joinRoom(bob!, roomId);
    await inviteBot(alice!, roomId, botUserId);
    // Alice: a red camera and a blue shared screen (two tiles); bob: audio only (a name card).
    const alicePeer = await startRtcPeer({ stack, roomId, user: alice!.user, toneHz: TONES.alice, e2ee: 'keys', silent: true, video: { width: 320, height: 240, fps: 15, yuv: RED }, screen: { width: 640, height: 480, fps: 15, yuv: BLUE } });
    const bobPeer = await startRtcPeer({ stack, roomId, user: bob!.user, toneHz: TONES.bob, e2ee: 'keys', silent: true });
    suite.peers.push(alicePeer, bobPeer);

    await alice!.sendText(roomId, '!record video');
    await alice!.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice');
    // Each speaks in turn, with a pause between them, so each window is found in the file's sound.
    await sleep(2_000);
    alicePeer.setTone(true);
    await sleep(3_000);
    alicePeer.setTone(false);
    await sleep(700);
    bobPeer.setTone(true);
    await sleep(3_000);
    bobPeer.setTone(false);
    await alice!.sendText(roomId, '!stop');
    const summary = await alice!.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000);
    expect(String(summary.content.body)).toContain('composite video');

    const roomDir = join(suite.outputDir, readdirSync(suite.outputDir).find((d) => d.includes(roomId.slice(1, 10)))!);
    const segment = join(roomDir, readdirSync(roomDir)[0]!, 'segment-0');
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
    const entry = manifest.files.find((f) => f.kind === 'video')!;
    const path = join(segment, entry.name);
    const probe = JSON.parse(
      execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,codec_name,width,height,nb_read_frames:format=duration', '-of', 'json', path], { encoding: 'utf8' }),
    ) as { streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number; nb_read_frames?: string }>; format: { duration: string } };
    const videoStream = probe.streams.find((s) => s.codec_type === 'video')!;
    const duration = Number(probe.format.duration);
    const frames = Number(videoStream.nb_read_frames);
    console.log(`[measure] video: ${videoStream.codec_name} ${videoStream.width}x${videoStream.height}, ${frames} frames in ${duration.toFixed(2)} s (expected ${(duration * 15).toFixed(0)} at 15 fps); manifest ${entry.durationMs} ms`);
    expect([videoStream.codec_name, videoStream.width, videoStream.height]).toEqual(['h264', 1280, 720]);
    expect(probe.streams.map((s) => s.codec_type).sort()).toEqual(['audio', 'video']);
    expect(Math.abs(frames - duration * 15) / (duration * 15)).toBeLessThan(0.02);
    expect(Math.abs(duration * 1000 - manifest.segments[0]!.durationMs)).toBeLessThan(500);

    // Who spoke when, from the file's own soundtrack (the mix): alice's window, then bob's.
    const sound = decodeToPcm(path, stack.ffmpegPath);
    const aliceFrom = onsetMs(sound);
    const aliceTo = offsetMs(sound, aliceFrom + 500);
    const bobFrom = onsetMs(sound, aliceTo + 200);
    console.log(`[measure] tones in the file: alice ${aliceFrom}-${aliceTo} ms, bob from ${bobFrom} ms`);
    expect(aliceFrom).toBeGreaterThan(0);
    expect(bobFrom).toBeGreaterThan(aliceTo);
    expect(toneSnrDb(slice(sound, aliceFrom + 200, aliceTo - 200), 48_000, TONES.alice)).toBeGreaterThan(10);
    expect(toneSnrDb(slice(sound, bobFrom + 200, bobFrom + 2_000), 48_000, TONES.bob)).toBeGreaterThan(10);

    // Where the tiles are: the screen share on the stage, the camera and the card in the strip (in member order).
    const frameAt = (ms: number) => execFileSync(stack.ffmpegPath, ['-v', 'error', '-ss', (ms / 1000).toFixed(2), '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], { maxBuffer: 1 << 24 });
    const during = { alice: frameAt(aliceFrom + 1_500), bob: frameAt(bobFrom + 1_500) };
    const placed = layoutTiles([{ id: 'camera', screen: false }, { id: 'screen', screen: true }, { id: 'other', screen: false }], { width: 1280, height: 720 });
    const [first, second] = [placed.get('camera')!, placed.get('other')!];
    // The strip's order follows the members': alice's camera is the red one of the two.
    const [aliceTile, bobTile] = Math.abs(meanAt(during.alice, centreOf(first)).v - RED[2]) < 20 ? [first, second] : [second, first];
    const stage = meanAt(during.alice, centreOf(placed.get('screen')!));
    const camera = meanAt(during.alice, centreOf(aliceTile));
    const disc = meanAt(during.alice, { x: bobTile.x + bobTile.width / 2 - 2, y: bobTile.y + bobTile.height * 0.33, width: 4, height: 2 });
    const letters = brightPixels(during.alice, { x: bobTile.x + bobTile.width * 0.4, y: bobTile.y + bobTile.height * 0.38, width: bobTile.width * 0.2, height: bobTile.height * 0.24 }, 200);
    const name = brightPixels(during.alice, { x: bobTile.x, y: bobTile.y + bobTile.height * 0.8, width: bobTile.width * 0.6, height: bobTile.height * 0.2 }, 200);
    const borders = Object.fromEntries(Object.entries(during).map(([who, yuv]) => [who, { alice: topBorder(yuv, aliceTile), bob: topBorder(yuv, bobTile) }]));
    console.log(
      `[measure] layout (Y,U,V): stage ${fmt(stage)}, alice's camera ${fmt(camera)}, bob's card disc ${fmt(disc)} with ${letters} bright initials pixels and ${name} in the name label; ` +
        `top borders' V while alice speaks: alice ${borders.alice!.alice.toFixed(0)}, bob ${borders.alice!.bob.toFixed(0)}; while bob speaks: alice ${borders.bob!.alice.toFixed(0)}, bob ${borders.bob!.bob.toFixed(0)}`,
    );
    expect(Math.abs(stage.y - BLUE[0]) + Math.abs(stage.u - BLUE[1]) + Math.abs(stage.v - BLUE[2])).toBeLessThan(30);
    expect(Math.abs(camera.y - RED[0]) + Math.abs(camera.u - RED[1]) + Math.abs(camera.v - RED[2])).toBeLessThan(30);
    // A name card, not a black tile: a coloured disc with white initials, and the name below.
    expect(disc.y).toBeGreaterThan(30);
    expect(Math.abs(disc.u - 128) + Math.abs(disc.v - 128)).toBeGreaterThan(20);
    expect(letters).toBeGreaterThan(20);
    expect(name).toBeGreaterThan(20);
    // The green border (V about 54) moves with the voice: on alice's tile while she speaks, on bob's while he does.
    expect(borders.alice!.alice).toBeLessThan(100);
    expect(borders.alice!.bob).toBeGreaterThan(110);
    expect(borders.bob!.bob).toBeLessThan(100);
    expect(borders.bob!.alice).toBeGreaterThan(150);
  });
});
