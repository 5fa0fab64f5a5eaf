// A Redis restart on the real stack: while Redis is away, a command gets a plain answer saying
// so (nothing hangs, nothing crashes); once Redis is back, the bridge and the worker reconnect by
// themselves and the next !record records. Uses its own redis-server (not the stack's), which
// the test stops and starts again on the same port.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { dispose } from '@livekit/rtc-node';
import { afterAll, describe, expect, it } from 'vitest';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const PORT = 16390;
let redis: ChildProcess | undefined;
let bot: RecorderProcess | undefined;
const peers: RtcPeer[] = [];

const portOpen = () =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port: PORT });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor(async () => ((await portOpen()) ? true : undefined), `redis-server on ${PORT}`, 10_000, 50);
}
async function stopRedis(): Promise<void> {
  const exited = once(redis!, 'exit');
  redis!.kill('SIGKILL');
  await exited;
}

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await bot?.stop();
  if (redis && redis.exitCode === null) await stopRedis();
  await dispose();
});

describe('Redis restart', () => {
  it('answers plainly while Redis is away and records once it is back', async () => {
    await startRedis();
    const config = stackRecorderConfig(stack, { redis: { url: `redis://127.0.0.1:${PORT}` }, recording: { uploadToRoom: false } });
    bot = await startRecorder('all', config);
    await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice);
    await inviteBot(alice, roomId, botUserId);
    peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440 }));
    const botSays = (pattern: RegExp, what: string) =>
      alice.waitForMessage(roomId, botUserId, pattern, what);

    await stopRedis();
    await alice.sendText(roomId, '!record');
    const refusal = await botSays(/job queue/, 'the answer while Redis is away');
    expect(String(refusal.content.body)).toContain('I cannot reach my job queue (Redis) right now, so I could not start the recording.');

    const restartedAt = Date.now();
    await startRedis();
    await bot.waitForLog((e) => e.msg === 'redis connection restored', 'the reconnection', 20_000);
    await alice.sendText(roomId, '!record');
    await botSays(/^Recording started by/, 'the start notice');
    console.log(`[measure] Redis restart: recording again ${Date.now() - restartedAt} ms after Redis came back`);
    await alice.sendText(roomId, '!stop');
    await botSays(/^Recording ended/, 'the end summary');
    expect(bot.child.exitCode).toBeNull();
  });
});
