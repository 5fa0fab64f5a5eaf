// Where a live stream goes: an RTMP(S) ingest (H.264 + AAC in FLV), an SRT listener (MPEG-TS,
// caller mode) or an HLS directory. Stream keys and passphrases are secrets: they are registered
// with the log scrubber as soon as they are parsed, and every message here names a destination by
// its printable form (`rtmp://a.rtmp.youtube.com/live2/••••`), never by its URL.
import { isAbsolute, resolve } from 'node:path';
import { RecorderError } from '../../errors.ts';
import { registerSecret } from '../../observability/secrets.ts';

/** What stands in for a secret in printable forms. */
export const MASK = '••••';

export type DestinationKind = 'rtmp' | 'srt' | 'hls';

interface DestinationBase {
  /** The configured name, or the printable form for a URL typed in a room. */
  name: string;
  /** Safe for logs, replies, Redis and manifests: secrets replaced by `••••`. */
  printable: string;
  /** The values that must never be shown (stream keys, passphrases, credentials), possibly empty. */
  secrets: string[];
}

export interface RtmpDestination extends DestinationBase {
  kind: 'rtmp';
  /** The full publish URL as ffmpeg needs it, key included. Secret. */
  url: string;
}

export interface SrtDestination extends DestinationBase {
  kind: 'srt';
  /** ffmpeg's SRT URL (caller mode; latency in microseconds as ffmpeg's option wants it). Secret. */
  url: string;
  latencyMs: number | undefined;
}

export interface HlsDestination extends DestinationBase {
  kind: 'hls';
  /** Directory that receives `index.m3u8` and its segments. */
  directory: string;
  segmentSeconds: number;
  /** Segments kept in the live playlist (older ones are deleted). */
  listSize: number;
}

export type Destination = RtmpDestination | SrtDestination | HlsDestination;

/** MRR_STREAM_DESTINATION: a destination could not be parsed; the message never repeats its secrets. */
export class DestinationError extends RecorderError {
  constructor(problem: string) {
    super(problem, 'MRR_STREAM_DESTINATION', { userMessage: problem, retryable: false });
  }
}

export interface HlsDefaults {
  /** Base directory for `hls:` destinations with a relative or no path. */
  directory: string;
  segmentSeconds: number;
  listSize: number;
}

export const DEFAULT_HLS: HlsDefaults = { directory: 'hls', segmentSeconds: 4, listSize: 6 };

export interface DestinationOptions {
  /** The name shown in status and messages; defaults to the printable form. */
  name?: string;
  hls?: Partial<HlsDefaults>;
  /**
   * From the operator's config rather than typed in a room: only then may an `hls:` destination
   * name an absolute directory (a room member must not make the worker write anywhere it can).
   */
  trusted?: boolean;
}

/**
 * Parses `rtmp://host[:port]/app/<key>`, `rtmps://…`, `srt://host:port[?latency=ms&passphrase=…&streamid=…]`
 * or `hls:[directory]`. Registers its secrets with the log scrubber. Throws DestinationError with a
 * sentence that never contains the input's secrets.
 */
export function parseDestination(input: string, opts: DestinationOptions = {}): Destination {
  const text = input.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === 'hls') return parseHls(text.slice('hls:'.length), opts);
  if (scheme === 'rtmp' || scheme === 'rtmps') return parseRtmp(text, scheme, opts);
  if (scheme === 'srt') return parseSrt(text, opts);
  throw new DestinationError(
    scheme
      ? `A stream destination must be rtmp://, rtmps://, srt:// or hls:, not ${scheme}:.`
      : 'A stream destination must be an rtmp://, rtmps:// or srt:// URL, hls:, or the name of a configured destination.',
  );
}

function parseUrl(text: string, scheme: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new DestinationError(`That ${scheme}:// destination is not a valid URL.`);
  }
}

function checkHostAndPort(url: URL, scheme: string): void {
  if (!url.hostname) throw new DestinationError(`A ${scheme}:// destination needs a host.`);
  if (url.port !== '' && !(Number(url.port) >= 1 && Number(url.port) <= 65535)) {
    throw new DestinationError(`${scheme}://${url.hostname}: the port must be between 1 and 65535.`);
  }
}

// WHATWG URLs keep an IPv6 host's brackets in `hostname`.
const hostPart = (url: URL) => `${url.hostname}${url.port ? `:${url.port}` : ''}`;

function parseRtmp(text: string, scheme: 'rtmp' | 'rtmps', opts: DestinationOptions): RtmpDestination {
  const url = parseUrl(text, scheme);
  const secrets = [url.username, url.password].filter(Boolean).map(decodeURIComponent);
  checkHostAndPort(url, scheme);
  const segments = url.pathname.split('/').filter(Boolean);
  if (segments.length < 2) {
    throw new DestinationError(
      `${scheme}://${hostPart(url)}: an RTMP destination needs an application and a stream key (${scheme}://host/app/key).`,
    );
  }
  const key = decodeURIComponent(segments.at(-1)!);
  secrets.push(key, segments.at(-1)!);
  // Some services take the key (or a token) in the query string: all of it is treated as secret.
  if (url.search) secrets.push(url.search.slice(1), ...[...url.searchParams.values()]);
  const printable = `${scheme}://${hostPart(url)}/${segments.slice(0, -1).join('/')}/${MASK}${url.search ? `?${MASK}` : ''}`;
  return register({ kind: 'rtmp', name: opts.name ?? printable, printable, secrets: unique(secrets), url: text });
}

const SRT_PARAMS = new Set(['latency', 'passphrase', 'streamid', 'pbkeylen', 'mode']);

function parseSrt(text: string, opts: DestinationOptions): SrtDestination {
  // SRT URLs have no fragment, and stream ids often start with `#!::` (the access-control syntax).
  const url = parseUrl(text.replace(/#/g, '%23'), 'srt');
  checkHostAndPort(url, 'srt');
  const where = `srt://${hostPart(url)}`;
  if (!url.port) throw new DestinationError(`${where}: an SRT destination needs a port (srt://host:port).`);
  if (url.username || url.password) throw new DestinationError(`${where}: SRT takes no user name or password in the URL; use ?passphrase=.`);
  if (url.pathname !== '' && url.pathname !== '/') throw new DestinationError(`${where}: an SRT URL has no path; use ?streamid= to name the stream.`);
  const params = url.searchParams;
  const secrets: string[] = [];
  for (const name of params.keys()) {
    if (!SRT_PARAMS.has(name)) throw new DestinationError(`${where}: unknown option ${name} (known: latency, passphrase, streamid, pbkeylen).`);
  }
  const mode = params.get('mode');
  if (mode !== null && mode !== 'caller') throw new DestinationError(`${where}: the recorder connects to an SRT listener, so mode must be caller.`);
  let latencyMs: number | undefined;
  const latency = params.get('latency');
  if (latency !== null) {
    latencyMs = Number(latency);
    if (!Number.isInteger(latencyMs) || latencyMs < 20 || latencyMs > 10_000) {
      throw new DestinationError(`${where}: latency is in milliseconds, from 20 to 10000.`);
    }
  }
  const passphrase = params.get('passphrase');
  if (passphrase !== null) {
    secrets.push(passphrase, encodeURIComponent(passphrase));
    if (passphrase.length < 10 || passphrase.length > 79) throw new DestinationError(`${where}: an SRT passphrase has 10 to 79 characters.`);
  }
  const pbkeylen = params.get('pbkeylen');
  if (pbkeylen !== null && !['16', '24', '32'].includes(pbkeylen)) throw new DestinationError(`${where}: pbkeylen is 16, 24 or 32.`);
  const streamId = params.get('streamid');
  // A stream id often carries a publishing token (`#!::r=live/key,m=publish`): treated as secret.
  if (streamId !== null) secrets.push(streamId, encodeURIComponent(streamId));

  const out = new URLSearchParams({ mode: 'caller', transtype: 'live', pkt_size: '1316' });
  if (latencyMs !== undefined) out.set('latency', String(latencyMs * 1000));
  if (passphrase !== null) out.set('passphrase', passphrase);
  if (pbkeylen !== null) out.set('pbkeylen', pbkeylen);
  if (streamId !== null) out.set('streamid', streamId);
  const shown = [
    latencyMs !== undefined ? `latency=${latencyMs}` : '',
    passphrase !== null ? `passphrase=${MASK}` : '',
    streamId !== null ? `streamid=${MASK}` : '',
  ].filter(Boolean);
  const printable = `${where}${shown.length ? `?${shown.join('&')}` : ''}`;
  // URLSearchParams writes spaces as '+', which libsrt's option parser would keep literally.
  const ffmpegUrl = `${where}?${out.toString().replace(/\+/g, '%20')}`;
  secrets.push(out.get('streamid') ?? '', out.get('passphrase') ?? '');
  return register({ kind: 'srt', name: opts.name ?? printable, printable, secrets: unique(secrets), url: ffmpegUrl, latencyMs });
}

function parseHls(path: string, opts: DestinationOptions): HlsDestination {
  const defaults = { ...DEFAULT_HLS, ...opts.hls };
  const raw = path.replace(/^\/\/(?=\/)/, ''); // hls:///abs/dir reads as /abs/dir
  if (raw.includes('\0')) throw new DestinationError('An hls: directory cannot contain a NUL character.');
  if (!opts.trusted && raw !== '' && !/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(raw)) {
    throw new DestinationError('In a room, hls: takes only a folder name (letters, digits, - and _) below the configured HLS directory.');
  }
  if (!isAbsolute(raw) && raw.split(/[\\/]/).includes('..')) throw new DestinationError('An hls: directory below the HLS base directory cannot contain "..".');
  const directory = raw === '' ? resolve(defaults.directory) : resolve(defaults.directory, raw);
  if (!(defaults.segmentSeconds >= 1 && defaults.segmentSeconds <= 30)) throw new DestinationError('HLS segments last from 1 to 30 seconds.');
  if (!(Number.isInteger(defaults.listSize) && defaults.listSize >= 2)) throw new DestinationError('An HLS playlist keeps at least 2 segments.');
  const printable = `hls:${directory}`;
  return { kind: 'hls', name: opts.name ?? printable, printable, secrets: [], directory, segmentSeconds: defaults.segmentSeconds, listSize: defaults.listSize };
}

const unique = (values: string[]) => [...new Set(values.filter(Boolean))];

function register<T extends Destination>(destination: T): T {
  for (const secret of destination.secrets) registerSecret(secret);
  return destination;
}

/** Replaces every secret of the destination in `text` (ffmpeg prints the URL it failed on, key included). */
export function maskSecrets(text: string, destination: Pick<Destination, 'secrets'>): string {
  let out = text;
  // Longest first, so a secret that contains another is masked whole.
  for (const secret of [...destination.secrets].sort((a, b) => b.length - a.length)) {
    if (secret && out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

/** Looks like a URL rather than a name: the caller should tell the user to prefer named destinations. */
export const isUrlLike = (text: string) => /^[a-z][a-z0-9+.-]*:/i.test(text.trim());

/** The problem with a configured destination URL, or undefined when it parses (for config validation). */
export function destinationProblem(url: string): string | undefined {
  try {
    parseDestination(url, { trusted: true });
    return undefined;
  } catch (err) {
    if (err instanceof DestinationError) return err.message;
    throw err;
  }
}

/** The `streaming` config section as far as destinations are concerned. */
export interface StreamingDestinationsConfig {
  destinations: Record<string, { url: string; kind?: 'audio' | 'video' | undefined }>;
  hlsDirectory: string;
  hlsSegmentSeconds: number;
  hlsListSize: number;
}

export interface ResolvedDestination {
  destination: Destination;
  /** What the configured destination streams without an explicit `audio`/`video`. */
  defaultKind: 'audio' | 'video' | undefined;
  /**
   * The user typed a URL (with its key) into the room rather than a configured name: tell them,
   * once, to use a named destination, and redact the command when allowed to.
   */
  typedSecret: boolean;
  /** Typed in the room rather than configured: its host is the member's choice (check it with TypedDestinationGuard). */
  typed: boolean;
}

/**
 * What `!stream <text>` means: a configured name, `hls` / `hls:<folder>` (below `hlsDirectory`,
 * in `sessionFolder` when given), or a URL typed in the room.
 */
export function resolveDestination(text: string, config: StreamingDestinationsConfig, sessionFolder?: string): ResolvedDestination {
  const hls = { directory: config.hlsDirectory, segmentSeconds: config.hlsSegmentSeconds, listSize: config.hlsListSize };
  const wanted = text.trim();
  const named = Object.hasOwn(config.destinations, wanted) ? config.destinations[wanted] : undefined;
  if (named) {
    const destination = parseDestination(named.url, { name: wanted, hls, trusted: true });
    return { destination, defaultKind: named.kind, typedSecret: false, typed: false };
  }
  if (wanted === 'hls' || wanted.toLowerCase().startsWith('hls:')) {
    const folder = wanted === 'hls' ? '' : wanted.slice('hls:'.length);
    const base = sessionFolder ? resolve(hls.directory, sessionFolder) : hls.directory;
    const destination = parseDestination(`hls:${folder}`, { hls: { ...hls, directory: base } });
    return { destination, defaultKind: undefined, typedSecret: false, typed: false };
  }
  if (!isUrlLike(wanted)) {
    const names = Object.keys(config.destinations);
    throw new DestinationError(
      names.length > 0
        ? `There is no destination named ${JSON.stringify(wanted)}; configured: ${names.join(', ')}.`
        : `There is no destination named ${JSON.stringify(wanted)}: none are configured (streaming.destinations).`,
    );
  }
  const destination = parseDestination(wanted);
  return { destination, defaultKind: undefined, typedSecret: destination.secrets.length > 0, typed: true };
}
