import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startHealthServer } from './health-server.ts';
import { framesDropped, metricsRegistry, recordingBytes, sessionGone, sessionPhase } from './metrics.ts';
import { homeserverProbe, Reachability, redisProbe } from './reachability.ts';

const log = pino({ level: 'silent' });
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers) await close();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port nobody listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sample = (text: string, line: string) => text.split('\n').find((l) => l.startsWith(line))?.split(' ').at(-1);

describe('health server', () => {
  it('is ready only while every target answers, and says which one does not', async () => {
    let versions = 200;
    const homeserver = await listen(createServer((_req, res) => res.writeHead(versions).end('{}')));
    const redis = { status: 'ready', ping: async () => 'PONG' };
    const reachability = new Reachability('worker', { redis: redisProbe(redis), homeserver: homeserverProbe(homeserver) }, 60_000, log);
    const server = await startHealthServer({ role: 'worker', bindAddress: '127.0.0.1', port: 0, registry: metricsRegistry('worker'), reachability, log });
    closers.push(() => server.close());

    // Before the first check nothing is known, so nothing is ready.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    await reachability.check();
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    versions = 502;
    redis.status = 'reconnecting';
    await reachability.check();
    const notReady = await fetch(`${server.url}/readyz`);
    expect(notReady.status).toBe(503);
    const body = (await notReady.json()) as { checks: Record<string, { up: boolean; error?: string }> };
    expect(body.checks.redis).toMatchObject({ up: false, error: 'connection reconnecting' });
    expect(body.checks.homeserver).toMatchObject({ up: false, error: '/_matrix/client/versions answered 502' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(sample(metrics, 'mrr_redis_up')).toBe('0');
    expect(sample(metrics, 'mrr_homeserver_up')).toBe('0');
    // Liveness does not depend on the others.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/nothing`)).status).toBe(404);
  });

  it('counts a homeserver on a closed port as unreachable', async () => {
    const reachability = new Reachability('bridge', { homeserver: homeserverProbe(`http://127.0.0.1:${await closedPort()}`) }, 60_000, log);
    await reachability.check();
    expect(reachability.ready).toBe(false);
    expect(reachability.snapshot().homeserver?.error).toMatch(/fetch failed/);
  });

  it('refuses to start on a port in use, naming the key to change', async () => {
    const busy = await listen(createServer());
    const port = Number(new URL(busy).port);
    const reachability = new Reachability('bridge', {}, 60_000, log);
    await expect(startHealthServer({ role: 'bridge', bindAddress: '127.0.0.1', port, registry: metricsRegistry('bridge'), reachability, log })).rejects.toThrow(
      /EADDRINUSE.*metrics\.bridgePort/,
    );
  });
});

describe('metrics', () => {
  it('counts recording bytes once, by growth per segment directory', async () => {
    const read = async () => Number(sample(await metricsRegistry('worker').metrics(), 'mrr_recording_bytes_written_total'));
    const before = await read();
    recordingBytes('/rec/a/segment-0', 100);
    recordingBytes('/rec/a/segment-0', 250);
    recordingBytes('/rec/b/segment-0', 40);
    recordingBytes('/rec/a/segment-0', 260, true);
    // A new attempt in the same directory starts from zero again.
    recordingBytes('/rec/a/segment-0', 5);
    expect((await read()) - before).toBe(260 + 40 + 5);
  });

  it('shows each running session once, under its current phase, and forgets ended ones', async () => {
    sessionPhase('job1', 'audio', 'joining');
    sessionPhase('job1', 'audio', 'in-call');
    sessionPhase('job2', 'video', 'in-call');
    sessionPhase('job3', 'audio', 'in-call');
    sessionGone('job3');
    framesDropped('stream_video', 3);
    const text = await metricsRegistry('worker').metrics();
    expect(sample(text, 'mrr_sessions{kind="audio",phase="in-call"}')).toBe('1');
    expect(sample(text, 'mrr_sessions{kind="video",phase="in-call"}')).toBe('1');
    expect(text).not.toContain('phase="joining"');
    expect(sample(text, 'mrr_dropped_frames_total{stage="stream_video"}')).toBe('3');
    // The bridge's registry is another one: worker metrics are not served there.
    expect(await metricsRegistry('bridge').metrics()).not.toContain('mrr_sessions');
  });
});
