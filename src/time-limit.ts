// A bound on how long one step may wait. Steps that talk to Redis wait forever while it is away
// (worker connections queue commands until it is back); the steps that end a session must not.

export class TimeLimitError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'TimeLimitError';
  }
}

/** `work`, or a TimeLimitError after `ms` (the work itself goes on and may still finish later). */
export function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeLimitError(what, ms)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** How long a session's ending waits on Redis for one step (a notice, a progress report, the segment list). */
export const STOPPING_REDIS_LIMIT_MS = 5_000;
