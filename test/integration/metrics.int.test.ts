// Issue 13, items 11-13 on the real stack: the bridge and the worker of a running recorder serve
// /metrics, /healthz and /readyz on ports of their own; a recording moves the counters (a session
// ended by !stop, bytes equal to the files written, join latency, queue depth); every recording
// leaves audit lines naming who asked and where the files went, and its manifest says how long the
// local copy is kept. A worker whose Redis is unreachable is alive but not ready.
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { metricsUrl, stackRecorderConfig, startRecorder } from '../helpers/recorder-process.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const streamKey = `${stack.rtmp.goodKey}-metrics`;
const suite = recorderSuite(stack, {
  recording: { retentionDays: 30 },
  metrics: { probeIntervalMs: 1_000 },
  streaming: { allowedHosts: ['127.0.0.1'], destinations: { ingest: { url: `${stack.rtmp.url}/${streamKey}`, kind: 'audio' } } },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Prometheus text → value of the sample named exactly `series` (name and labels), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();

/** Polls /readyz until it answers `status` (the first check runs as the process starts). */
async function readiness(url: string, status: number, what: string, timeoutMs = 20_000): Promise<{ checks: Record<string, { up: boolean; error?: string }> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/readyz`);
    const body = (await res.json()) as { checks: Record<string, { up: boolean; error?: string }> };
    if (res.status === status) return body;
    if (Date.now() > deadline) throw new Error(`${what}: /readyz still ${res.status} after ${timeoutMs} ms: ${JSON.stringify(body)}`);
    await sleep(250);
  }
}

describe('metrics, health, audit and retention', () => {
  it('a recording moves the counters, leaves audit lines and a manifest that says how long it is kept', async () => {
    const bridge = await metricsUrl(suite.bot, 'bridge');
    const worker = await metricsUrl(suite.bot, 'worker');
    expect(bridge).not.toBe(worker);
    await readiness(bridge, 200, 'bridge');
    await readiness(worker, 200, 'worker');
    const before = { bridge: await scrape(bridge), worker: await scrape(worker) };
    expect(value(before.worker, 'mrr_redis_up')).toBe(1);
    expect(value(before.worker, 'mrr_homeserver_up')).toBe(1);
    expect(value(before.bridge, 'mrr_queue_jobs{queue="session.record",state="waiting"}')).toBe(0);

    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' });
    suite.peers.push(peer);
    await alice.sendText(roomId, '!record');
    await alice.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice');
    const during = await scrape(worker);
    expect(value(during, 'mrr_sessions{kind="audio",phase="in-call"}')).toBe(1);
    await sleep(6_000); // past one progress report (every 5 s), so bytes are counted while recording
    const recording = await scrape(worker);
    expect(value(recording, 'mrr_recording_bytes_written_total')).toBeGreaterThan(0);
    await alice.sendText(roomId, '!stop');
    await alice.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000);
    await suite.bot.waitForLog((e) => e.audit === true && e.event === 'recording.ended', 'the audit line of the recording');

    const after = await scrape(worker);
    const delta = (series: string) => (value(after, series) ?? 0) - (value(before.worker, series) ?? 0);
    const segment = segmentDir(suite.outputDir, roomId);
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
    const fileBytes = manifest.files.reduce((sum, f) => sum + f.bytes, 0);

    expect(delta('mrr_sessions_ended_total{reason="stopped"}')).toBe(1);
    expect(delta('mrr_recording_bytes_written_total')).toBe(fileBytes);
    expect(delta('mrr_join_seconds_count{stage="joined",from="request"}')).toBe(1);
    expect(delta('mrr_join_seconds_count{stage="first_audio",from="request"}')).toBe(1);
    const joinedS = delta('mrr_join_seconds_sum{stage="joined",from="request"}');
    const firstAudioS = delta('mrr_join_seconds_sum{stage="first_audio",from="request"}');
    expect(joinedS).toBeGreaterThan(0);
    expect(firstAudioS).toBeGreaterThan(0);
    // Nothing runs any more; nobody failed to decrypt.
    expect(after).not.toMatch(/^mrr_sessions\{/m);
    expect(delta('mrr_decryption_failures_total{cause="no_key"}')).toBe(0);
    const bridgeAfter = await scrape(bridge);
    expect(value(bridgeAfter, 'mrr_queue_jobs{queue="session.record",state="active"}')).toBe(0);
    console.log(`figures: joined ${joinedS.toFixed(2)} s, first audio ${firstAudioS.toFixed(2)} s after !record; ${fileBytes} bytes in ${manifest.files.length} files`);

    // Retention: the manifest says until when the local files stay.
    expect(manifest.retention).toEqual({ localDays: 30, localUntil: new Date(Date.parse(manifest.endedAt) + 30 * 24 * 3600_000).toISOString() });

    // Audit: start and end, who asked, the room, the files and where they are; nothing secret.
    const audit = suite.bot.logs.filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.roomId === roomId);
    const started = audit.find((e) => e.event === 'recording.started')!;
    const ended = audit.find((e) => e.event === 'recording.ended')!;
    expect(started).toMatchObject({ requestedBy: alice.user.userId, kind: 'audio', segment: 0, directory: segment });
    expect(ended).toMatchObject({ requestedBy: alice.user.userId, endReason: `stopped by ${alice.user.userId}`, directory: segment, localUntil: (manifest.retention as { localUntil: string }).localUntil });
    expect((ended.files as Array<{ name: string }>).map((f) => f.name).sort()).toEqual(manifest.files.map((f) => f.name).sort());
    expect(ended.uploadedToRoom).toEqual({ files: manifest.files.length + 1, of: manifest.files.length + 1 });
    const auditText = JSON.stringify(audit);
    for (const secret of [stack.botCrypto.storeKey, readFileSync(stack.appservice.registrationFile, 'utf8').match(/as_token: *"?([^"\n]+)/)![1]!]) {
      expect(auditText).not.toContain(secret);
    }
  });

  it('streams leave audit lines naming the destination by name and host, never by key', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    suite.peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    await alice.sendText(roomId, '!stream ingest');
    await alice.waitForMessage(roomId, botUserId, /^Streaming the call \(audio\) to/, 'the stream going live', 45_000);
    const refusedKey = `refused${Date.now()}`;
    await alice.sendText(roomId, `!stream ${stack.rtmp.url}/${refusedKey} audio`);
    await alice.waitForMessage(roomId, botUserId, /^I gave up streaming to|^I could not start streaming/, 'the refusal', 60_000);
    await alice.sendText(roomId, '!stream stop');
    await suite.bot.waitForLog((e) => e.audit === true && e.event === 'stream.ended' && e.roomId === roomId && e.destination === 'ingest', 'the audit line of the named stream');

    const audit = suite.bot.logs.filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.roomId === roomId);
    const host = new URL(stack.rtmp.url.replace(/^rtmp:/, 'http:')).host;
    const named = audit.filter((e) => e.destination === 'ingest');
    expect(named.map((e) => e.event)).toEqual(['stream.started', 'stream.ended']);
    expect(named[1]).toMatchObject({ requestedBy: alice.user.userId, kind: 'audio', target: `rtmp://${host}`, endReason: `stopped by ${alice.user.userId}` });
    const typed = audit.filter((e) => String(e.event).startsWith('stream.') && e.destination === undefined);
    expect(typed.map((e) => e.event)).toEqual(['stream.started', 'stream.ended']);
    expect(typed[1]).toMatchObject({ requestedBy: alice.user.userId, target: `rtmp://${host}`, endReason: expect.stringMatching(/^failed: /) });
    console.log(`figures: stream audit lines: ${JSON.stringify(typed[1])}`);
    const auditText = JSON.stringify(audit);
    expect(auditText).not.toContain(streamKey);
    expect(suite.bot.logs.join('\n')).not.toContain(refusedKey);
  });

  it('a worker whose Redis port is closed is alive but not ready, and says why', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const config = stackRecorderConfig(stack, { redis: { url: `redis://127.0.0.1:${port}` }, metrics: { probeIntervalMs: 1_000 } });
    const lonely = await startRecorder('worker', config);
    try {
      const url = await metricsUrl(lonely, 'worker');
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      // Homeserver checked and up, Redis down: not ready for that reason alone.
      const deadline = Date.now() + 20_000;
      let body = await readiness(url, 503, 'worker without Redis');
      while (!body.checks.homeserver?.up && Date.now() < deadline) {
        await sleep(250);
        body = await readiness(url, 503, 'worker without Redis');
      }
      expect(body.checks.homeserver).toMatchObject({ up: true });
      expect(body.checks.redis).toMatchObject({ up: false });
      const metrics = await scrape(url);
      expect(value(metrics, 'mrr_redis_up')).toBe(0);
      expect(value(metrics, 'mrr_homeserver_up')).toBe(1);
      console.log(`figures: readyz without Redis: ${JSON.stringify(body.checks)}`);
    } finally {
      await lonely.stop('SIGKILL');
    }
  });
});
