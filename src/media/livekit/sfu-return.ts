// Tells when a LiveKit server that went away answers again, so a dropped connection is opened at
// once instead of at the next backoff step (up to 4 s later). It asks the server itself (an HTTP
// GET of its root, where LiveKit answers "OK"), not the authorizer: a probe costs no Matrix or
// authorizer request, however long the outage.
//
// Only a return counts: the server must first be seen away (refused, timed out, or a proxy's
// 5xx). A server that answers all along (our own network blipped, the resume failed for another
// reason) says nothing, and the backoff's attempts go on as before.
import { httpProbe, probeUntilUp, type Probe } from '../../http-probe.ts';

/** Between probes while the server is away: the recording's gap grows by at most this much. */
export const PROBE_INTERVAL_MS = 500;

/** The HTTP address of a LiveKit server's root, from its WebSocket URL (a proxy's path prefix kept). */
export function livekitHttpRoot(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  return url.toString();
}

/**
 * Probes `wsUrl`'s server every PROBE_INTERVAL_MS; calls `onBack` once when it answers after it
 * was seen away, then stops. Returns a stop function (idempotent).
 */
export function watchSfuReturn(wsUrl: string, onBack: () => void, probe: Probe = httpProbe, intervalMs = PROBE_INTERVAL_MS): () => void {
  return probeUntilUp(livekitHttpRoot(wsUrl), onBack, { intervalMs, firstAfterMs: 0, afterAway: true, probe });
}
