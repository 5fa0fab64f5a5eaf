// Whether a server answers over HTTP: one GET, a short timeout. Used to notice a server come back
// (an SFU, a homeserver) sooner than the libraries' own retry timers would.

const PROBE_TIMEOUT_MS = 1_000;

export type Probe = (url: string, signal: AbortSignal) => Promise<'up' | 'down'>;

/** Up: anything below 500 answered. Down: no answer, or a proxy saying what is behind it is away. */
export const httpProbe: Probe = async (url, signal) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]) });
    await res.body?.cancel();
    return res.status < 500 ? 'up' : 'down';
  } catch {
    return 'down';
  }
};

/**
 * Probes `url` every `intervalMs` (the first time after `firstAfterMs`) until it answers, then
 * calls `onUp` once and stops. With `afterAway`, only an answer after the server was seen away
 * counts (a return, not a server that answered all along). Returns a stop function (idempotent);
 * nothing is told after it, even of an answer already on its way.
 */
export function probeUntilUp(
  url: string,
  onUp: () => void,
  opts: { intervalMs: number; firstAfterMs: number; afterAway: boolean; probe?: Probe },
): () => void {
  const probe = opts.probe ?? httpProbe;
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sawAway = false;
  const tick = async () => {
    const state = await probe(url, abort.signal);
    if (abort.signal.aborted) return;
    if (state === 'down') sawAway = true;
    else if (sawAway || !opts.afterAway) {
      abort.abort();
      onUp();
      return;
    }
    timer = setTimeout(() => void tick(), opts.intervalMs);
  };
  timer = setTimeout(() => void tick(), opts.firstAfterMs);
  return () => {
    abort.abort();
    clearTimeout(timer);
  };
}
