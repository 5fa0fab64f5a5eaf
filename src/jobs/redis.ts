import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

/**
 * `producer` connections fail fast while Redis is away (a command gets a clear error instead of
 * hanging); `worker` connections wait and retry, as BullMQ workers must (maxRetriesPerRequest null).
 */
export function createRedis(url: string, role: 'producer' | 'worker', log: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
    lazyConnect: false,
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.error({ err: err.message, role }, 'redis connection error; retrying');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info({ role }, 'redis connection restored');
    down = false;
  });
  return redis;
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function redisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis not reachable within ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
