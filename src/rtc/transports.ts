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
  return !!t && t.type === 'livekit' && typeof t.livekit_service_url === 'string' && isHttpUrl(t.livekit_service_url);
}

/** An http(s) URL that parses: `https://` alone passes a prefix test but fails later in `new URL`. */
function isHttpUrl(value: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** The transports endpoint's list; an answer of another shape is an error naming it (it comes off the network). */
async function listedTransports(port: TransportDiscoveryPort): Promise<unknown[]> {
  const listed: unknown = await port.rtcTransports();
  if (!Array.isArray(listed)) throw new Error(`the transports endpoint answered ${describeShape(listed)}, not a list`);
  return listed;
}

/** `.well-known`'s `rtc_foci` list, or undefined when it has none (a document that is no object is an error). */
async function wellKnownFoci(port: TransportDiscoveryPort): Promise<unknown[] | undefined> {
  const document: unknown = await port.clientWellKnown();
  if (document === null || typeof document !== 'object' || Array.isArray(document)) throw new Error(`.well-known is ${describeShape(document)}, not a JSON object`);
  const foci = (document as Record<string, unknown>)['org.matrix.msc4143.rtc_foci'];
  return Array.isArray(foci) ? foci : undefined;
}

const describeShape = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`);

export async function discoverOwnTransport(
  port: TransportDiscoveryPort,
  configured: string | undefined,
  log: Logger,
): Promise<{ transport: LivekitTransport; source: TransportSource }> {
  const problems: string[] = [];
  try {
    const found = (await listedTransports(port)).find(isLivekitTransport);
    if (found) return { transport: { type: 'livekit', livekit_service_url: found.livekit_service_url }, source: 'transports-endpoint' };
    problems.push('the transports endpoint lists no LiveKit transport');
  } catch (err) {
    problems.push(`the transports endpoint failed (${(err as Error).message})`);
  }
  try {
    const found = (await wellKnownFoci(port))?.find(isLivekitTransport);
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
  const [endpoint, foci] = await Promise.allSettled([listedTransports(port), wellKnownFoci(port)]);
  const urls = [
    ...(endpoint.status === 'fulfilled' ? endpoint.value.filter(isLivekitTransport) : []),
    ...(foci.status === 'fulfilled' && foci.value ? foci.value.filter(isLivekitTransport) : []),
  ].map((t) => t.livekit_service_url);
  return [...new Set([...urls, ...(configured ? [configured] : [])])];
}
