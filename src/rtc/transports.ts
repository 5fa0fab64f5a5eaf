// Where the bot's own media goes (protocol notes §5): the homeserver's MSC4143 transports
// endpoint, then `.well-known` `rtc_foci`, then configuration. Each fallback is logged with why.
import { RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';

export interface LivekitTransport {
  type: 'livekit';
  livekit_service_url: string;
  livekit_alias?: string;
}

export type TransportSource = 'transports-endpoint' | 'well-known' | 'config';

export interface TransportDiscoveryPort {
  /** GET /_matrix/client/unstable/org.matrix.msc4143/rtc/transports (js-sdk `_unstable_getRTCTransports`). */
  rtcTransports(): Promise<unknown[]>;
  /** The homeserver's `.well-known/matrix/client` document. */
  clientWellKnown(): Promise<Record<string, unknown>>;
}

export function isLivekitTransport(value: unknown): value is LivekitTransport {
  const t = value as Partial<LivekitTransport> | null;
  return !!t && t.type === 'livekit' && typeof t.livekit_service_url === 'string' && /^https?:\/\//.test(t.livekit_service_url);
}

export async function discoverOwnTransport(
  port: TransportDiscoveryPort,
  configured: string | undefined,
  log: Logger,
): Promise<{ transport: LivekitTransport; source: TransportSource }> {
  const problems: string[] = [];
  try {
    const found = (await port.rtcTransports()).find(isLivekitTransport);
    if (found) return { transport: { type: 'livekit', livekit_service_url: found.livekit_service_url }, source: 'transports-endpoint' };
    problems.push('the transports endpoint lists no LiveKit transport');
  } catch (err) {
    problems.push(`the transports endpoint failed (${(err as Error).message})`);
  }
  try {
    const foci = (await port.clientWellKnown())['org.matrix.msc4143.rtc_foci'];
    const found = Array.isArray(foci) ? foci.find(isLivekitTransport) : undefined;
    if (found) {
      log.info({ tried: problems }, 'using the .well-known rtc_foci transport');
      return { transport: { type: 'livekit', livekit_service_url: found.livekit_service_url }, source: 'well-known' };
    }
    problems.push('.well-known has no LiveKit rtc_foci');
  } catch (err) {
    problems.push(`.well-known failed (${(err as Error).message})`);
  }
  if (configured) {
    log.info({ tried: problems }, 'using the configured LiveKit service URL');
    return { transport: { type: 'livekit', livekit_service_url: configured }, source: 'config' };
  }
  throw new RecorderError(`no LiveKit transport found: ${problems.join('; ')}`, 'MRR_NO_SFU', {
    retryable: false,
    userMessage: `I could not find a LiveKit SFU for this homeserver: ${problems.join('; ')}, and rtc.livekitServiceUrl is not configured.`,
  });
}

/**
 * Every LiveKit authorizer the homeserver advertises (transports endpoint and `.well-known`), and
 * the configured one: the SFUs the operator's own deployment stands behind. A source that fails
 * adds nothing (discoverOwnTransport reports the failures).
 */
export async function advertisedAuthorizers(port: TransportDiscoveryPort, configured: string | undefined): Promise<string[]> {
  const [endpoint, wellKnown] = await Promise.allSettled([port.rtcTransports(), port.clientWellKnown()]);
  const foci = wellKnown.status === 'fulfilled' ? wellKnown.value['org.matrix.msc4143.rtc_foci'] : undefined;
  const urls = [
    ...(endpoint.status === 'fulfilled' ? endpoint.value.filter(isLivekitTransport) : []),
    ...(Array.isArray(foci) ? foci.filter(isLivekitTransport) : []),
  ].map((t) => t.livekit_service_url);
  return [...new Set([...urls, ...(configured ? [configured] : [])])];
}
