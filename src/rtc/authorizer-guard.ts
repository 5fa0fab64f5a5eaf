// Which LiveKit authorizers (and SFUs) the bot may contact. Call memberships are written by
// members, so a member chooses the URL the bot POSTs its OpenID token to and takes media from;
// without this check any member could make the bot send requests into the operator's network.
// Allowed: the homeserver's own advertised transports (exact origin), and what the operator lists
// in `rtc.allowedAuthorizers` (`host`, `host:port`, or `*` for any host). A host reached only
// through `*` must resolve to public addresses only, checked again when the connection is made
// (so a DNS answer that changes in between does not get through).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { RecorderError } from '../errors.ts';

/** A URL the bot will not contact; `reason` is for logs, never for the room (it names hosts). */
export class RefusedTargetError extends RecorderError {
  readonly reason: 'not-listed' | 'private-address' | 'bad-url';
  constructor(reason: RefusedTargetError['reason'], detail: string) {
    super(`refused to contact ${detail}`, 'MRR_SFU_REFUSED', {
      retryable: false,
      userMessage:
        reason === 'not-listed'
          ? 'its address is not one of the LiveKit services my operator allows (rtc.allowedAuthorizers)'
          : reason === 'private-address'
            ? 'its address is in a private network, which I do not contact unless my operator lists it (rtc.allowedAuthorizers)'
            : 'its address is not a valid http(s) URL',
    });
    this.reason = reason;
  }
}

const DEFAULT_PORTS: Record<string, string> = { 'https:': '443', 'wss:': '443', 'rtmp:': '1935', 'rtmps:': '443' };

/** `host:port` with the scheme's default port filled in; IPv6 hosts keep their brackets. */
export function originKey(url: URL): string {
  const port = url.port || DEFAULT_PORTS[url.protocol] || '80';
  return `${url.hostname.toLowerCase()}:${port}`;
}

function parseTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RefusedTargetError('bad-url', 'a malformed URL');
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) throw new RefusedTargetError('bad-url', `a ${url.protocol} URL`);
  return url;
}

/** Whether an IP address is anything but a public unicast address (loopback, private, link-local, …). */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return nonPublicV4(address);
  if (family === 6) return nonPublicV6(address);
  return true; // not an address at all: not known to be public
}

function nonPublicV4(address: string): boolean {
  const [a, b] = address.split('.').map(Number) as [number, number, number, number];
  return (
    a === 0 || // "this" network
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local (cloud metadata services live here)
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) || // IETF protocol assignments, incl. 192.0.0.0/24 and 192.0.2.0/24 documentation
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    (a === 198 && b === 51) || // documentation
    (a === 203 && b === 0) || // documentation
    a >= 224 // multicast, reserved, broadcast
  );
}

function nonPublicV6(address: string): boolean {
  const groups = expandV6(address.toLowerCase());
  if (!groups) return true;
  const first = groups[0]!;
  if (groups.every((g) => g === 0)) return true; // ::
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return true; // ::1
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms: judge the IPv4 address inside.
  if (groups.slice(0, 5).every((g) => g === 0) && (groups[5] === 0xffff || groups[5] === 0)) {
    const v4 = `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
    return nonPublicV4(v4);
  }
  if (first === 0x64 && groups[1] === 0xff9b) return true; // NAT64 (could reach anything behind it)
  return (
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xffc0) === 0xfec0 || // site-local (deprecated)
    (first & 0xff00) === 0xff00 || // multicast
    first === 0x2001 && groups[1] === 0x0db8 // documentation
  );
}

function expandV6(address: string): number[] | undefined {
  let text = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  // A trailing dotted IPv4 part becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...new Array<number>(Math.max(fill, 0)).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

export type Resolver = (hostname: string) => Promise<string[]>;

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses: LookupAddress[]) => (err ? reject(err) : resolve(addresses.map((a) => a.address)))),
  );

/** How a target was allowed: listed (trusted as named) or only through `*` (must stay public). */
export type Admission = 'listed' | 'public';

/**
 * An operator's list of hosts the bot may contact: `host` (any port), `host:port`, or `*` for any
 * host whose name resolves to public addresses only. Shared by the authorizer check and by stream
 * URLs typed in rooms: both are places a room member chooses.
 */
export class HostAllowList {
  readonly #origins = new Set<string>();
  readonly #hosts = new Set<string>();
  readonly #anyPublic: boolean;
  readonly #resolve: Resolver;

  constructor(entries: readonly string[], resolve: Resolver = systemResolver, exactOrigins: readonly string[] = []) {
    for (const origin of exactOrigins) this.#origins.add(origin);
    for (const entry of entries) {
      if (entry === '*') continue;
      if (/:\d+$/.test(entry)) this.#origins.add(normaliseEntry(entry));
      else this.#hosts.add(normaliseEntry(entry));
    }
    this.#anyPublic = entries.includes('*');
    this.#resolve = resolve;
  }

  /** Whether `url` may be contacted; throws RefusedTargetError when not (a `*` host is resolved and checked). */
  async admit(url: URL): Promise<Admission> {
    if (this.#origins.has(originKey(url)) || this.#hosts.has(url.hostname.toLowerCase())) return 'listed';
    if (!this.#anyPublic) throw new RefusedTargetError('not-listed', originKey(url));
    await assertPublic(url.hostname, this.#resolve);
    return 'public';
  }
}

export interface AuthorizerPolicyOptions {
  /** Authorizer URLs the homeserver advertises (transports endpoint, .well-known, rtc.livekitServiceUrl). */
  advertised: readonly string[];
  /** `rtc.allowedAuthorizers`: `host`, `host:port` or `*`. */
  allowed: readonly string[];
  resolve?: Resolver;
}

export class AuthorizerPolicy {
  readonly #list: HostAllowList;

  constructor(opts: AuthorizerPolicyOptions) {
    const advertised = opts.advertised.map((u) => originKey(parseTarget(u)));
    this.#list = new HostAllowList(opts.allowed, opts.resolve, advertised);
  }

  /**
   * Whether the bot may contact `raw`; throws RefusedTargetError when not. A target allowed only
   * through `*` has every address its name resolves to checked (the connection checks again).
   */
  async admit(raw: string): Promise<Admission> {
    return this.#list.admit(parseTarget(raw));
  }
}

const normaliseEntry = (entry: string) => entry.trim().toLowerCase();

/** Throws unless every address `hostname` stands for is public. */
export async function assertPublic(hostname: string, resolve: Resolver = systemResolver): Promise<void> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(bare)) addresses = [bare];
  else {
    try {
      addresses = await resolve(bare);
    } catch (err) {
      throw new RefusedTargetError('bad-url', `${bare}, whose name does not resolve (${(err as Error).message})`);
    }
  }
  const bad = addresses.filter(isNonPublicAddress);
  if (addresses.length === 0 || bad.length > 0) throw new RefusedTargetError('private-address', `${bare} (${bad.join(', ') || 'no address'})`);
}

/**
 * A `lookup` for node:http(s) that refuses non-public answers, so that the addresses checked are
 * the addresses connected to (a name that resolves publicly once and privately next gets nowhere).
 */
export function publicOnlyLookup(resolve: Resolver = systemResolver) {
  return (hostname: string, options: { all?: boolean }, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    resolve(hostname).then(
      (addresses) => {
        const bad = addresses.filter(isNonPublicAddress);
        if (addresses.length === 0 || bad.length > 0) {
          callback(new RefusedTargetError('private-address', `${hostname} (${bad.join(', ') || 'no address'})`), '');
          return;
        }
        const entries = addresses.map((address) => ({ address, family: isIP(address) }));
        if (options.all) callback(null, entries);
        else callback(null, entries[0]!.address, entries[0]!.family);
      },
      (err: Error) => callback(err, ''),
    );
  };
}
