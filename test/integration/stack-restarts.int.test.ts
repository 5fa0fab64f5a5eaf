// Issue 13, the shared stack's services restarted under a running recording, checked by content:
// - Synapse restarted mid-recording: the recording goes on in the same segment, nothing recorded
//   before is lost, the tone has no gap longer than the outage plus 5 s;
// - the bot's own LiveKit server restarted mid-recording: the bot connects again by itself and
//   records on; the gap is at most the outage plus 5 s and the manifest states it.
// These restart processes every test shares: this file must run under the stack lock (flock
// /tmp/mrr-stack.lock), and each case waits until the service is healthy again before it ends.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { decodeToPcm, probeDuration } from '../helpers/audio-files.ts';
import { rms, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';
import { restartProcess } from '../stack/processes.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const suite = recorderSuite(stack, { recording: { uploadToRoom: false } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const healthy = (url: string) => async () => ((await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.ok ? true : undefined);

/** Restarts one stack process after `downMs` away and waits until `healthUrl` answers; returns how long it was away. */
async function restart(name: string, healthUrl: string, downMs: number): Promise<{ stoppedAt: number; backAt: number; outageMs: number }> {
  const { stoppedAt } = await restartProcess(name, downMs);
  await waitFor(healthy(healthUrl), `${name} healthy again`, 120_000, 100);
  const backAt = Date.now();
  return { stoppedAt, backAt, outageMs: backAt - stoppedAt };
}

/** The longest run of 20 ms windows without the tone (RMS under 300), in ms, after the first second. */
function longestSilenceMs(pcm: Int16Array): { ms: number; atMs: number } {
  let longest = { ms: 0, atMs: 0 };
  let run = 0;
  const windows = Math.floor(pcm.length / 960);
  for (let i = 50; i < windows; i++) {
    if (rms(pcm.subarray(i * 960, (i + 1) * 960)) < 300) run++;
    else run = 0;
    if (run * 20 > longest.ms) longest = { ms: run * 20, atMs: (i - run + 1) * 20 };
  }
  return longest;
}

/** The bot's log lines since `since` about its connections (SFU drops, attempts, returns; the homeserver's return) and media keys and decryption, with their times. */
function botEvents(logs: string[], since: number): string[] {
  const about = /SFU|resum|reconnect|media again|^frames (arrive|decrypt)|homeserver answers again|media key received/;
  return logs.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { time?: string; level?: number; msg?: string; err?: { message?: string } };
      if ((entry.level ?? 0) < 30 || !about.test(entry.msg ?? '') || Date.parse(entry.time ?? '') < since) return [];
      return [`${entry.time?.slice(11, 23)} ${entry.msg}${entry.err?.message ? `: ${entry.err.message}` : ''}`];
    } catch {
      return [];
    }
  });
}

async function startCall(name: string) {
  const alice = new TestClient(await registerUser(stack, name));
  const roomId = await createCallRoom(alice, { encrypted: true });
  await inviteBot(alice, roomId, botUserId);
  const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' });
  suite.peers.push(peer);
  await alice.sendText(roomId, '!record');
  await alice.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice', 60_000);
  return { alice, roomId, peer };
}

function readRecording(roomId: string) {
  const segment = segmentDir(suite.outputDir, roomId);
  const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
  const mixed = join(segment, 'mixed.ogg');
  return { manifest, mixed, pcm: decodeToPcm(mixed, stack.ffmpegPath), seconds: probeDuration(mixed) };
}

describe('stack services restarted under a recording', () => {
  it('Synapse restarted mid-recording: the recording goes on in its segment, nothing before is lost', async () => {
    const startedAt = Date.now();
    const { alice, roomId } = await startCall('alice');
    await sleep(5_000);
    // Down for 5 s besides its own start-up: a restart an operator does (an upgrade), not an instant one.
    const synapse = await restart('synapse', `${stack.synapse.url}/health`, 5_000);
    await sleep(6_000);
    await alice.sendText(roomId, '!stop');
    const summary = await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 90_000);

    const { manifest, pcm, seconds } = readRecording(roomId);
    const silence = longestSilenceMs(pcm);
    console.log(`[bot] Synapse answered again at ${new Date(synapse.backAt).toISOString().slice(11, 23)}\n[bot] ${botEvents(suite.bot.logs, startedAt).join('\n[bot] ')}`);
    expect(manifest.segments.map((s) => s.index)).toEqual([0]);
    // Everything from the start to the stop: at least the 5 s before and 6 s after the outage, and the outage.
    expect(seconds * 1000).toBeGreaterThan(5_000 + synapse.outageMs + 6_000 - 2_000);
    expect(silence.ms).toBeLessThanOrEqual(synapse.outageMs + 5_000);
    expect(toneSnrDb(pcm.subarray(48_000), 48_000, 440)).toBeGreaterThan(20);
    console.log(
      `[measure] Synapse restart: away ${synapse.outageMs} ms; recording ${seconds.toFixed(1)} s in one segment; longest gap in the tone ${silence.ms} ms ` +
        `(at ${silence.atMs} ms); gaps stated: ${JSON.stringify(manifest.segments[0]!.gaps ?? [])}; summary: ${String(summary.content.body).split('\n')[0]}`,
    );
  });

  it("the bot's LiveKit server restarted mid-recording: the bot connects again and records on, the gap stated in the manifest", async () => {
    const startedAt = Date.now();
    const { alice, roomId, peer } = await startCall('alice');
    await sleep(5_000);
    const sfu = stack.sfus[0]!;
    const livekit = await restart(`livekit-${sfu.name}`, sfu.livekitUrl.replace(/^ws/, 'http'), 5_000);
    // The member connects again as soon as the server is back, as Element Call's livekit-client does
    // (a full reconnect: same identity, key and membership); rtc-node's own resume took ~14 s here.
    await peer.reconnectMedia();
    const memberBackMs = Date.now() - livekit.backAt;
    const lostNotice = await alice.waitForMessage(roomId, botUserId, /^I lost the connection to the call's media server/, 'the lost-connection notice', 60_000);
    const backNotice = await alice.waitForMessage(roomId, botUserId, /^I am connected to the call's media again, after \d+s/, 'the back notice', 90_000);
    await sleep(8_000);
    await alice.sendText(roomId, '!stop');
    const summary = await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 90_000);

    const { manifest, pcm, seconds } = readRecording(roomId);
    expect(manifest.segments.map((s) => s.index)).toEqual([0]);
    const silence = longestSilenceMs(pcm);
    const gaps = manifest.segments[0]!.gaps ?? [];
    const stated = gaps.reduce((a: number, g) => Math.max(a, g.toMs - g.fromMs), 0);
    // Said before the checks, so that a failure comes with its figures and the bot's own account of the outage.
    console.log(
      `[measure] LiveKit restart: away ${livekit.outageMs} ms; member back ${memberBackMs} ms after the server; recording ${seconds.toFixed(1)} s in one segment; ` +
        `longest gap in the tone ${silence.ms} ms (at ${silence.atMs} ms); gaps stated: ${JSON.stringify(gaps)}; summary: ${String(summary.content.body).replace(/\n/g, ' | ')}`,
    );
    console.log(`[room] ${String(lostNotice.content.body)}\n[room] ${String(backNotice.content.body)}`);
    console.log(`[bot] ${botEvents(suite.bot.logs, startedAt).join('\n[bot] ')}`);
    // The stated gap is where the silence heard in the file is, and neither is longer than the outage plus 5 s.
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps.some((g) => silence.atMs >= g.fromMs - 1_000 && silence.atMs <= g.toMs + 1_000)).toBe(true);
    expect(silence.ms).toBeLessThanOrEqual(livekit.outageMs + 5_000);
    expect(stated).toBeLessThanOrEqual(livekit.outageMs + 5_000);
    // Before the restart and after it, the tone.
    expect(toneSnrDb(pcm.subarray(48_000, 48_000 * 4), 48_000, 440)).toBeGreaterThan(20);
    expect(toneSnrDb(pcm.subarray(pcm.length - 48_000 * 4), 48_000, 440)).toBeGreaterThan(20);
  });
});
