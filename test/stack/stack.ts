// The local MatrixRTC stack on loopback: Synapse, two LiveKit servers each with its own
// authorizer (for multi-SFU calls), Redis, nginx with the RTMP module (the live-stream ingest),
// and versitygw serving a directory as S3 (the archive sink).
// `npm run stack -- up|down|status`.
// Installs on first use (cached by version), writes fresh state per `up`, waits until healthy.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planStack, PORTS, writeLiveKitConfig, writeNginxConfig, writeRegistration, writeSynapseConfig } from './configs.ts';
import { STACK_INFO_PATH, STATE_DIR, readStackInfo, type StackInfo } from './info.ts';
import { pino } from 'pino';
import { loadRegistration } from '../../src/config/registration.ts';
import { generateCrossSigning } from '../../src/crypto/generate-cross-signing.ts';
import { callUserLocalpart } from '../../src/call/call-user.ts';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { installAll, livekitBinary, synapsePython, versitygwBinary, whichBinary } from './install.ts';
import { LOG_DIR, runningProcesses, startProcess, stopAll, waitHealthy, type ManagedProcess } from './processes.ts';

const say = (line: string) => console.log(`[stack] ${line}`);
const authorizerMain = fileURLToPath(new URL('./authorizer/main.ts', import.meta.url));

const httpOk = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;

const redisPong = (port: number) => () =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(2_000, () => socket.destroy());
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });

function processesFor(info: StackInfo, synapseConfig: string, livekitConfigs: string[], nginxArgs: string[]): ManagedProcess[] {
  return [
    { name: 'nginx', command: whichBinary('nginx')!, args: nginxArgs },
    { name: 'synapse', command: synapsePython, args: ['-m', 'synapse.app.homeserver', '--config-path', synapseConfig], cwd: join(STATE_DIR, 'synapse') },
    {
      name: 'redis',
      command: whichBinary('redis-server')!,
      args: ['--port', String(PORTS.redis), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', STATE_DIR],
    },
    ...info.sfus.map((sfu, i) => ({ name: `livekit-${sfu.name}`, command: livekitBinary, args: ['--config', livekitConfigs[i]!] })),
    {
      name: 's3',
      command: versitygwBinary,
      args: ['--port', `127.0.0.1:${PORTS.s3}`, '--region', info.s3.region, '--quiet', 'posix', info.s3.root],
      // The root credentials go through the environment, not the command line that `ps` shows.
      env: { ...process.env, ROOT_ACCESS_KEY_ID: info.s3.accessKeyId, ROOT_SECRET_ACCESS_KEY: info.s3.secretAccessKey },
    },
    ...info.sfus.map((sfu, i) => ({
      name: `authorizer-${sfu.name}`,
      command: process.execPath,
      args: [authorizerMain, `--sfu=${sfu.name}`],
      env: {
        ...process.env,
        LIVEKIT_URL: sfu.livekitUrl,
        LIVEKIT_KEY: sfu.apiKey,
        LIVEKIT_SECRET: sfu.apiSecret,
        LIVEKIT_JWT_BIND: `127.0.0.1:${PORTS.sfus[i]!.authorizer}`,
        LIVEKIT_FULL_ACCESS_HOMESERVERS: '*',
        MRR_AUTHORIZER_HOMESERVERS: `${info.synapse.serverName}=${info.synapse.url}`,
      },
    })),
  ];
}

function healthChecks(info: StackInfo): Array<[string, () => Promise<boolean>]> {
  return [
    ['synapse', httpOk(`${info.synapse.url}/health`)],
    ['redis', redisPong(PORTS.redis)],
    ['nginx', httpOk(`http://127.0.0.1:${info.rtmp.checkPort}/healthz`)],
    ['s3', async () => (await s3Client(info).send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(2_000) }), true)],
    ...info.sfus.map((sfu): [string, () => Promise<boolean>] => [`livekit-${sfu.name}`, httpOk(sfu.livekitUrl.replace(/^ws/, 'http'))]),
    ...info.sfus.map((sfu): [string, () => Promise<boolean>] => [`authorizer-${sfu.name}`, httpOk(`${sfu.authorizerUrl}/healthz`)]),
  ];
}

/** A client for the stack's S3 server, as the recorder is configured for it (path style, Content-MD5 checksums). */
export function s3Client(info: StackInfo): S3Client {
  return new S3Client({
    endpoint: info.s3.endpoint,
    region: info.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.s3.accessKeyId, secretAccessKey: info.s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Running and healthy, as described by stack.json. */
async function isHealthy(): Promise<StackInfo | undefined> {
  let info: StackInfo;
  try {
    info = readStackInfo();
  } catch {
    return undefined;
  }
  // A stack started by an older version of this script lacks newer parts (the RTMP ingest, S3): start it anew.
  if (!info.rtmp || !info.s3) return undefined;
  const running = runningProcesses();
  const checks = healthChecks(info);
  if (!checks.every(([name]) => running.has(name))) return undefined;
  const results = await Promise.all(checks.map(([, check]) => check().catch(() => false)));
  return results.every(Boolean) ? info : undefined;
}

export async function stopStack(): Promise<void> {
  await stopAll(say);
  rmSync(STACK_INFO_PATH, { force: true });
}

/** Cross-signing identities for the bot and its call user, as an operator creates them once per deployment. */
async function publishBotIdentities(info: StackInfo): Promise<void> {
  const { as_token } = loadRegistration(info.appservice.registrationFile);
  const userIds = [info.appservice.botLocalpart, callUserLocalpart(info.appservice.botLocalpart)].map((l) => `@${l}:${info.synapse.serverName}`);
  const lines: string[] = [];
  await generateCrossSigning(
    { homeserverUrl: info.synapse.url, asToken: as_token, userIds, output: info.botCrypto.crossSigningKeysFile, force: false },
    (line) => lines.push(line),
    pino({ level: 'warn' }),
  );
  say(`cross-signing identities published for ${userIds.join(' and ')}`);
}

/** Starts the stack unless it already runs healthy; returns what tests need to reach it. */
export async function ensureStack(): Promise<StackInfo> {
  const healthy = await isHealthy();
  if (healthy) return healthy;
  await stopStack();
  installAll();

  const started = Date.now();
  rmSync(STATE_DIR, { recursive: true, force: true });
  mkdirSync(STATE_DIR, { recursive: true });
  const info = planStack(STATE_DIR, whichBinary('ffmpeg')!, whichBinary('chromium')!);
  writeRegistration(info);
  const synapseConfig = writeSynapseConfig(join(STATE_DIR, 'synapse'), info);
  const livekitConfigs = info.sfus.map((sfu, i) => writeLiveKitConfig(STATE_DIR, sfu, PORTS.sfus[i]!));
  const nginx = writeNginxConfig(join(STATE_DIR, 'nginx'), info.rtmp);
  mkdirSync(info.s3.root, { recursive: true });

  for (const spec of processesFor(info, synapseConfig, livekitConfigs, nginx.args)) {
    const pid = startProcess(spec);
    say(`started ${spec.name} (pid ${pid})`);
  }
  const giveUp = new AbortController();
  try {
    const times = await Promise.all(
      healthChecks(info).map(async ([name, check]) => {
        try {
          return [name, await waitHealthy(name, check, say, giveUp.signal)] as const;
        } catch (err) {
          giveUp.abort(err);
          throw err;
        }
      }),
    );
    say(`healthy: ${times.map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)} s`).join(', ')}`);
  } catch (err) {
    await stopAll(say);
    throw err;
  }
  await publishBotIdentities(info);
  await s3Client(info).send(new CreateBucketCommand({ Bucket: info.s3.bucket }));
  say(`S3 bucket ${info.s3.bucket} created at ${info.s3.endpoint}`);
  writeFileSync(STACK_INFO_PATH, JSON.stringify(info, null, 2), { mode: 0o600 });
  say(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s; logs in ${LOG_DIR}`);
  return info;
}

async function status(): Promise<number> {
  const running = runningProcesses();
  const healthy = await isHealthy();
  if (running.size === 0) say('not running');
  for (const [name, pid] of running) say(`${name}: running (pid ${pid})`);
  if (healthy) say(`healthy; Synapse ${healthy.synapse.url}, SFUs ${healthy.sfus.map((s) => s.authorizerUrl).join(' ')}, Redis ${healthy.redis.url}`);
  return healthy ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const command = process.argv[2] ?? 'status';
  try {
    if (command === 'up') {
      const info = await ensureStack();
      say(`up: Synapse ${info.synapse.url} (server name ${info.synapse.serverName}), Redis ${info.redis.url}`);
      for (const sfu of info.sfus) say(`SFU ${sfu.name}: LiveKit ${sfu.livekitUrl}, authorizer ${sfu.authorizerUrl}`);
      say(`RTMP ingest: ${info.rtmp.url}/<stream key> (nginx-rtmp; the key is in stack.json)`);
      say(`S3 (versitygw): ${info.s3.endpoint}, bucket ${info.s3.bucket} (credentials in stack.json)`);
      say(`details in ${STACK_INFO_PATH}`);
    } else if (command === 'down') {
      await stopStack();
    } else if (command === 'status') {
      process.exitCode = await status();
    } else {
      console.error('usage: npm run stack -- up|down|status');
      process.exitCode = 2;
    }
  } catch (err) {
    console.error(`[stack] ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
