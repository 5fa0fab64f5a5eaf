import { dispose as disposeLiveKit } from '@livekit/rtc-node';
import type { Config } from './config/schema.ts';
import { loadRegistration, type Registration } from './config/registration.ts';
import type { Logger } from './observability/logger.ts';
import { RecorderAppservice } from './matrix/appservice.ts';
import { CommandRegistry } from './matrix/commands/registry.ts';
import { helpCommand } from './matrix/commands/help.ts';
import { recordCommand } from './matrix/commands/record.ts';
import type { SessionControl } from './matrix/commands/sessions.ts';
import { statusCommand } from './matrix/commands/status.ts';
import { controlCommands, type ControlQueue } from './matrix/commands/controls.ts';
import { stopCommand } from './matrix/commands/stop.ts';
import { streamCommand } from './matrix/commands/stream.ts';
import { phoneCommands, type PhoneCommandDeps } from './matrix/commands/phone.ts';
import { PinStore } from './bridge/pin-store.ts';
import { sendSipRequest } from './bridge/sip-control.ts';
import { SipService } from './bridge/sip-service.ts';
import { SessionQueue } from './jobs/producer.ts';
import { createRedis, redisReady } from './jobs/redis.ts';
import { SessionWorker, type SessionRunner } from './jobs/worker.ts';
import { storageSinkFromConfig } from './delivery/sinks.ts';
import { NoticeQueue, NoticeSender } from './jobs/notices.ts';
import { CallSession } from './session/call-session.ts';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import { routeSdkGlobalLogger } from './rtc/sdk-logger.ts';
import { startRoleEndpoints } from './observability/endpoints.ts';
import { startRetentionSweep } from './outputs/recording/retention.ts';
import { TypedDestinationGuard } from './outputs/stream/destination-guard.ts';

export type Role = 'bridge' | 'worker' | 'all';

interface Closable {
  name: string;
  close(): Promise<void>;
}

export function buildCommands(config: Config, sessions: SessionControl & ControlQueue, asToken: string, phone?: PhoneCommandDeps): CommandRegistry {
  const registry = new CommandRegistry(config.permissions.minPowerLevel);
  return registry.add(
    helpCommand(() => registry.list(), config.permissions.minPowerLevel),
    recordCommand(sessions, config.recording.defaultKind),
    stopCommand(sessions),
    streamCommand({ sessions, streaming: config.streaming, asToken, typedGuard: new TypedDestinationGuard(config.streaming.allowedHosts) }),
    statusCommand(sessions),
    ...controlCommands(sessions),
    ...(phone ? phoneCommands(phone) : []),
  );
}

/** Starts the requested role(s) and runs until SIGTERM/SIGINT, then shuts down in order. */
export async function runProcess(role: Role, config: Config, log: Logger): Promise<void> {
  const registration = loadRegistration(config.appservice.registrationFile, config.bot.localpart);
  const running: Closable[] = [];
  routeSdkGlobalLogger(sdkGlobalLogger, log);
  if (role === 'bridge' || role === 'all') {
    const redis = createRedis(config.redis.url, 'producer', log);
    running.push({ name: 'redis (producer)', close: async () => void (await redis.quit()) });
    // Before waiting for Redis, so that /readyz answers (not ready) while it is away.
    const endpoints = await startRoleEndpoints('bridge', config, redis, log);
    running.push({ name: 'metrics (bridge)', close: () => endpoints.close() });
    await redisReady(redis);
    const sessions = new SessionQueue(redis, config.redis.prefix, {
      maxOutputsPerRoom: config.limits.maxOutputsPerRoom,
      maxSessionsPerUser: config.limits.maxSessionsPerUser,
      sessionsPerWorker: config.jobs.concurrency,
    });
    running.push({ name: 'session queue', close: () => sessions.close() });
    const appservice = new RecorderAppservice({ config, registration, log, commands: buildCommands(config, sessions, registration.as_token, {
      pins: new PinStore(redis, config.redis.prefix, registration.as_token),
      sendSip: (request) => sendSipRequest(redis, config.redis.prefix, request),
      conferenceNumber: config.sip.conferenceNumber,
    }) });
    await appservice.start();
    running.push({ name: 'appservice', close: () => appservice.stop() });
    const noticeRedis = createRedis(config.redis.url, 'worker', log);
    running.push({ name: 'redis (notices)', close: async () => void (await noticeRedis.quit()) });
    const notices = new NoticeSender(noticeRedis, config.redis.prefix, (n) => appservice.sendNotice(n), log);
    running.push({ name: 'notice sender', close: () => notices.close() });
  }
  if (role === 'worker' || role === 'all') {
    const redis = createRedis(config.redis.url, 'worker', log);
    running.push({ name: 'redis (worker)', close: async () => void (await redis.quit()) });
    const endpoints = await startRoleEndpoints('worker', config, redis, log);
    running.push({ name: 'metrics (worker)', close: () => endpoints.close() });
    const retention = startRetentionSweep(config.recording, log);
    running.push({ name: 'retention sweep', close: async () => retention.stop() });
    const notices = new NoticeQueue(redis, config.redis.prefix);
    running.push({ name: 'notice queue', close: () => notices.close() });
    // The archive settings are checked now: a mistake stops the worker's start, not each recording at its end.
    storageSinkFromConfig(config.storage, log);
    const worker = new SessionWorker(redis, sessionRunner(config, registration, notices, log), { prefix: config.redis.prefix, ...config.jobs }, log);
    await worker.start();
    running.push({ name: 'worker', close: () => worker.close() });
    if (config.sip.enabled) {
      const phone = await SipService.start({ config, registration, redis, notices, log });
      running.push({ name: 'phone bridge', close: () => phone.close() });
    }
  }
  log.info({ role }, 'started');
  await waitForShutdownSignal(log);
  for (const item of running.reverse()) {
    await item.close().catch((err: unknown) => log.error({ err, item: item.name }, 'error while closing'));
  }
  await disposeLiveKit().catch((err: unknown) => log.warn({ err }, 'releasing LiveKit native resources failed'));
  log.info('stopped');
}

function sessionRunner(config: Config, registration: Registration, notices: NoticeQueue, log: Logger): SessionRunner {
  return (data, ctx) => new CallSession({ config, registration, log, notices }, data, ctx).run();
}

function waitForShutdownSignal(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down; a second signal forces exit');
      process.once(signal, () => process.exit(130));
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
