// Issue 13.10 on the real stack: a recording over the upload limit reaches the room in parts.
// The shared Synapse's limit stays as it is; the recorder's own lower limit
// (`recording.maxUploadBytes`) stands in for a small `max_upload_size`. Every part arrives as an
// encrypted attachment under the limit, plays on its own (the peer's tone), and the parts
// together last as long as the recording; the summary says the file was cut.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptAttachment, type EncryptedFile } from '../../src/delivery/attachment-crypto.ts';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { decodeToPcm, probeDuration } from '../helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const LIMIT = 32 * 1024;
const suite = recorderSuite(stack, { recording: { maxUploadBytes: LIMIT } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('recordings over the upload limit', () => {
  it('are attached in parts that each play and together last as long as the recording', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' });
    suite.peers.push(peer);

    await alice.sendText(roomId, '!record');
    await alice.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice');
    await sleep(14_000);
    await alice.sendText(roomId, '!stop');
    const summary = String((await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000)).content.body);

    const segment = segmentDir(suite.outputDir, roomId);
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
    const mixed = manifest.files.find((f) => f.kind === 'mixed')!;
    expect(mixed.bytes).toBeGreaterThan(2 * LIMIT);
    const stem = mixed.name.replace(/\.ogg$/, '');
    expect(summary).toMatch(new RegExp(`^Over the upload limit of 32\\.0 KiB, so attached in parts that each play on their own: ${stem}\\.ogg \\([^,]+, \\d+ parts\\)`, 'm'));
    expect(summary).not.toContain('Problems');

    // The parts, as alice's client sees them: decrypted events, downloaded and decrypted attachments.
    const room = peer.client.getRoom(roomId)!;
    const partEvents = await waitFor(
      async () => {
        const events = room.getLiveTimeline().getEvents().filter((e) => new RegExp(`^${stem}\\.part-\\d+-of-\\d+\\.ogg$`).test(String(e.getContent().body)));
        const count = Number(/-of-(\d+)\./.exec(String(events[0]?.getContent().body))?.[1]);
        return events.length > 0 && events.length === count ? events : undefined;
      },
      'every part of the mix in the room',
      30_000,
      200,
    );
    const scratch = mkdtempSync(join(tmpdir(), 'mrr-parts-back-'));
    let totalMs = 0;
    const lines: string[] = [];
    for (const [i, event] of partEvents.entries()) {
      const content = event.getContent();
      expect(content.body).toBe(`${stem}.part-${i + 1}-of-${partEvents.length}.ogg`);
      const file = content.file as EncryptedFile;
      const [server, mediaId] = file.url.slice('mxc://'.length).split('/');
      const response = await fetch(`${stack.synapse.url}/_matrix/client/v1/media/download/${server}/${mediaId}`, { headers: { authorization: `Bearer ${alice.user.accessToken}` } });
      const bytes = decryptAttachment(Buffer.from(await response.arrayBuffer()), file);
      expect(bytes.length).toBeLessThanOrEqual(LIMIT);
      const path = join(scratch, String(content.body));
      writeFileSync(path, bytes);
      const seconds = probeDuration(path);
      expect(Math.abs(seconds * 1000 - (content.info as { duration: number }).duration)).toBeLessThan(100);
      const pcm = decodeToPcm(path, stack.ffmpegPath);
      // Each part plays on its own from its first second: the tone, with the first part's start (before the peer was heard) left out.
      const heard = i === 0 ? pcm.subarray(48_000) : pcm;
      const snr = toneSnrDb(heard, 48_000, 440);
      const inner = heard.subarray(2_400, Math.max(2_400, heard.length - 2_400));
      lines.push(`${bytes.length} B ${seconds.toFixed(2)} s ${snr.toFixed(1)} dB (${inner.length > 0 ? toneSnrDb(inner, 48_000, 440).toFixed(1) : '-'} dB inside)`);
      expect(Math.abs(dominantFrequency(heard, 48_000) - 440)).toBeLessThan(5);
      expect(snr).toBeGreaterThan(20);
      totalMs += seconds * 1000;
    }
    console.log(`[measure] ${mixed.name} ${mixed.bytes} B / ${mixed.durationMs} ms under a ${LIMIT} B limit: ${partEvents.length} parts (${lines.join(', ')}), together ${Math.round(totalMs)} ms`);
    expect(partEvents.length).toBeGreaterThanOrEqual(3);
    expect(Math.abs(totalMs - mixed.durationMs)).toBeLessThan(200);
  });
});
