// Starts one role's observability: the reachability checks and the HTTP endpoints on the role's
// port (metrics.bridgePort or metrics.workerPort), plus the queue-depth gauge on the bridge.
// Started before the role connects, so `/readyz` says "not ready" while Redis is still away.
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { QueueDepth } from '../jobs/queue-depth.ts';
import { startHealthServer } from './health-server.ts';
import type { Logger } from './logger.ts';
import { metricsRegistry, watchQueueDepth, type MetricsRole } from './metrics.ts';
import { homeserverProbe, Reachability, redisProbe } from './reachability.ts';

export interface RoleEndpoints {
  /** Where the endpoints answer; undefined when metrics are disabled. */
  url: string | undefined;
  close(): Promise<void>;
}

export async function startRoleEndpoints(role: MetricsRole, config: Config, redis: Redis, log: Logger): Promise<RoleEndpoints> {
  const { metrics } = config;
  if (!metrics.enabled) return { url: undefined, close: async () => undefined };
  const reachability = new Reachability(role, { redis: redisProbe(redis), homeserver: homeserverProbe(config.homeserver.url) }, metrics.probeIntervalMs, log);
  let depth: QueueDepth | undefined;
  if (role === 'bridge') {
    const queues = new QueueDepth(redis, config.redis.prefix);
    depth = queues;
    let failing = false;
    watchQueueDepth(
      async () => {
        const counts = await queues.read();
        failing = false;
        return counts;
      },
      (err) => {
        if (!failing) log.warn({ err: (err as Error).message }, 'could not read the queue depth for /metrics; mrr_queue_jobs is left out until Redis answers');
        failing = true;
      },
    );
  }
  const server = await startHealthServer({ role, bindAddress: metrics.bindAddress, port: role === 'bridge' ? metrics.bridgePort : metrics.workerPort, registry: metricsRegistry(role), reachability, log });
  reachability.start();
  return {
    url: server.url,
    close: async () => {
      reachability.stop();
      await server.close();
      await depth?.close();
    },
  };
}
