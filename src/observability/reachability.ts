// Checks, every few seconds, that the services a role depends on answer: Redis (PING) and the
// homeserver (GET /_matrix/client/versions). The latest results feed `/readyz` and the
// mrr_redis_up / mrr_homeserver_up gauges; a change is logged once, not on every check.
import type { Logger } from './logger.ts';
import { reachable, type MetricsRole } from './metrics.ts';

export type Target = 'redis' | 'homeserver';

/** Resolves when the target answered, rejects with the reason otherwise. */
export type Probe = (signal: AbortSignal) => Promise<void>;

export interface TargetState {
  up: boolean;
  /** Why the last check failed; absent when up, or before the first check. */
  error?: string;
  checkedAt?: string;
}

/** Every check gives up after this long, so a hanging connection counts as unreachable. */
const PROBE_TIMEOUT_MS = 5_000;

export class Reachability {
  readonly #role: MetricsRole;
  readonly #probes: Map<Target, Probe>;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #state = new Map<Target, TargetState>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;

  constructor(role: MetricsRole, probes: Partial<Record<Target, Probe>>, intervalMs: number, log: Logger) {
    this.#role = role;
    this.#probes = new Map(Object.entries(probes) as Array<[Target, Probe]>);
    this.#intervalMs = intervalMs;
    this.#log = log.child({ module: 'reachability', role });
    // Not ready until a check says so.
    for (const target of this.#probes.keys()) {
      this.#state.set(target, { up: false, error: 'not checked yet' });
      reachable(role, target, false);
    }
  }

  /** Checks now and then every interval. */
  start(): void {
    void this.check();
    this.#timer = setInterval(() => void this.check(), this.#intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Runs every probe once (a check already under way is joined, not doubled). */
  check(): Promise<void> {
    this.#running ??= Promise.all([...this.#probes].map(([target, probe]) => this.#checkOne(target, probe))).then(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  get ready(): boolean {
    return [...this.#state.values()].every((s) => s.up);
  }

  snapshot(): Record<string, TargetState> {
    return Object.fromEntries(this.#state);
  }

  async #checkOne(target: Target, probe: Probe): Promise<void> {
    const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
    let error: string | undefined;
    try {
      await Promise.race([
        probe(signal),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), { once: true })),
      ]);
    } catch (err) {
      error = (err as Error).message || String(err);
    }
    const before = this.#state.get(target);
    this.#state.set(target, { up: error === undefined, ...(error ? { error } : {}), checkedAt: new Date().toISOString() });
    reachable(this.#role, target, error === undefined);
    if (error && (before?.up || before?.error === 'not checked yet')) this.#log.warn({ target, error }, 'unreachable; not ready');
    else if (!error && !before?.up) this.#log.info({ target }, 'reachable');
  }
}

/**
 * PING on an ioredis connection (the role's own, so it reports what that connection can do). A
 * connection that is not ready fails at once: a worker's connection would queue the PING offline.
 */
export function redisProbe(redis: { status: string; ping(): Promise<string> }): Probe {
  return async () => {
    if (redis.status !== 'ready') throw new Error(`connection ${redis.status}`);
    const answer = await redis.ping();
    if (answer !== 'PONG') throw new Error(`PING answered ${answer}`);
  };
}

/** The homeserver's unauthenticated versions endpoint answers 200. */
export function homeserverProbe(homeserverUrl: string): Probe {
  const url = new URL('/_matrix/client/versions', homeserverUrl);
  return async (signal) => {
    const response = await fetch(url, { signal });
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`${url.pathname} answered ${response.status}`);
  };
}
