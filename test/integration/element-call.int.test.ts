// Acceptance test against the real thing: the Element Call app itself (the released 0.26.1 build
// in Chromium, logged in as alice) joins an end-to-end encrypted room's call with a 440 Hz
// microphone, in each of its two membership modes, and the bot records her.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { dominantFrequency, rms, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { type ElementCallMode, startElementCallPeer } from '../peers/element-call-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const suite = recorderSuite(stack, { recording: { uploadToRoom: false } });
const TONE_HZ = 440;

const segmentOf = (roomId: string) => segmentDir(suite.outputDir, roomId);

/** The stem the recorder attributes to `userId` in its manifest (stem names follow LiveKit identities, which matrix_2_0 hashes). */
function stemFor(segment: string, userId: string): string {
  const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
  const stem = manifest.files.find((f) => f.kind === 'stem' && f.userId === userId);
  const stems = manifest.files.filter((f) => f.kind === 'stem').map((f) => `${f.name} (${f.userId ?? 'nobody'})`);
  if (!stem) throw new Error(`no stem of ${userId} in ${segment}; stems: ${stems.join(', ') || 'none'}`);
  return join(segment, stem.name);
}

/**
 * The recording from the first 20 ms window that carries sound (before it the key had not
 * arrived). Chromium's voice processing brings the tone down to an RMS near 750, silence stays below 50.
 */
function fromFirstSound(pcm: Int16Array): Int16Array {
  for (let i = 0; (i + 1) * 960 <= pcm.length; i++) if (rms(pcm.subarray(i * 960, (i + 1) * 960)) > 100) return pcm.subarray(i * 960);
  return new Int16Array(0);
}

describe('Element Call 0.26.1 (the real app in Chromium)', () => {
  for (const mode of ['compatibility', 'matrix_2_0'] satisfies ElementCallMode[]) {
    // Known gap, kept as the acceptance test: Element Call 0.26.1 in matrix_2_0 mode now sees the
    // bot (through the plaintext copy of its membership) and sends it her key under the identity
    // the SFU shows, but her frames still do not decrypt with it (E2EE state missing-key with the
    // key set). `fails` turns red the day it passes, so the gap cannot close unnoticed.
    const test = mode === 'matrix_2_0' ? it.fails : it;
    test(`is recorded in ${mode} mode: alice's stem carries her 440 Hz microphone`, { timeout: 240_000 }, async () => {
      const alice = new TestClient(await registerUser(stack, 'alice'));
      const roomId = await createCallRoom(alice, { encrypted: true });
      await inviteBot(alice, roomId, botUserId);
      const peer = await startElementCallPeer({ stack, roomId, user: alice.user, mode, toneHz: TONE_HZ });
      suite.peers.push(peer);
      const withPeerLog = <T>(step: Promise<T>) =>
        step.catch((err: unknown) => {
          throw new Error(`${String(err)}\nElement Call requests:\n${peer.wireLog.join('\n')}\npage log (last 100 lines):\n${peer.pageLog.slice(-100).join('\n')}`);
        });

      try {
        await alice.sendText(roomId, '!record');
        peer.note('test: !record sent');
        await withPeerLog(alice.waitForMessage(roomId, botUserId, /^Recording started by/, 'the start notice', 45_000));
        peer.note('test: start notice seen');
        await new Promise((r) => setTimeout(r, 8_000));
        await alice.sendText(roomId, '!stop');
        peer.note('test: !stop sent');
        await withPeerLog(alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary'));
      } finally {
        // The next case starts its own Chromium: two at once would starve this 2-core machine.
        await peer.stop();
        // What Element Call did on the wire in this mode (membership, keys, SFU): the first thing to read when it fails.
        const wire = peer.wireLog.filter((l) => /member|encrypted|sendToDevice|get_token|sfu\/get|delayed_events|transports| WS /.test(l));
        console.log(`[wire] Element Call ${mode}:\n${wire.join('\n')}`);
        const pageLogPath = join(suite.outputDir, `element-call-${mode}.log`);
        writeFileSync(pageLogPath, `${peer.pageLog.join('\n')}\n`);
        console.log(`[page log] ${pageLogPath}`);
      }

      const heard = decodeToPcm(stemFor(segmentOf(roomId), alice.user.userId), stack.ffmpegPath);
      const tone = fromFirstSound(heard);
      expect(tone.length, `alice's stem is silent (${(heard.length / 48_000).toFixed(1)} s)`).toBeGreaterThan(48_000);
      const snr = toneSnrDb(tone, 48_000, TONE_HZ);
      const dominant = dominantFrequency(tone, 48_000);
      console.log(
        `[measure] Element Call ${mode}: dominant ${dominant.toFixed(1)} Hz, SNR ${snr.toFixed(1)} dB, RMS ${rms(tone).toFixed(0)}, ` +
          `${(tone.length / 48_000).toFixed(1)} s of ${(heard.length / 48_000).toFixed(1)} s after the first sound`,
      );
      expect(Math.abs(dominant - TONE_HZ)).toBeLessThan(5);
      // 20 dB: the tone carries 100x the power of everything else in the stem.
      expect(snr).toBeGreaterThan(20);
    });
  }
});
