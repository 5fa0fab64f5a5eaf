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
