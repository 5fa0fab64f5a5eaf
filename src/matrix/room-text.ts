// The last step before anything the bot says reaches a room: addresses of the operator's network
// (the homeserver as the appservice reaches it, Redis, authorizers, any private or loopback IP,
// `localhost`, internal-only domains) are replaced. Error sentences come from many places (Node's
// own "connect ECONNREFUSED 10.0.0.5:7880", a library's URL); one filter at the exit catches them
// all. Matrix IDs are left whole: `@alice:localhost` names a person, not a host to hide.
import { isIP } from 'node:net';
import { isNonPublicAddress } from '../rtc/authorizer-guard.ts';

export const HIDDEN_ADDRESS = '[internal address]';

/** Domains that only resolve inside a network (RFC 6761/6762/8375 and common private ones). */
const INTERNAL_SUFFIXES = ['.localhost', '.local', '.internal', '.lan', '.home.arpa', '.localdomain', '.corp', '.intranet', '.cluster.local'];

const MATRIX_ID = /(?<![\w:/@.-])[@!#$][^\s:@!#$]+:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?/g;
const URL_AUTHORITY = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*@)?(\[[0-9a-f:.]+\]|[^\s/?#:@]+)(:\d{1,5})?/gi;
const HOST_TOKEN = /(\[[0-9a-f:.]+\]|(?<![\w:])[0-9a-f]*::[0-9a-f:.]*(?![\w:])|\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\b)(:\d{1,5}\b)?/gi;

export interface RoomTextSanitiserOptions {
  /** Hosts of the deployment (`host` or `host:port`, or URLs): homeserver URL, Redis, authorizers, bind address. */
  internalHosts: readonly string[];
}

export type RoomTextSanitiser = (text: string) => string;

export function roomTextSanitiser(opts: RoomTextSanitiserOptions): RoomTextSanitiser {
  const configured = new Set(opts.internalHosts.flatMap((entry) => hostOf(entry) ?? []));
  const isInternal = (rawHost: string): boolean => {
    const host = rawHost.toLowerCase().replace(/^\[|\]$/g, '');
    if (isIP(host)) return isNonPublicAddress(host) || configured.has(host);
    return host === 'localhost' || configured.has(host) || INTERNAL_SUFFIXES.some((suffix) => host.endsWith(suffix));
  };
  return (text) => {
    const kept: string[] = [];
    const protectedText = text.replace(MATRIX_ID, (id) => `\u0001${kept.push(id) - 1}\u0001`);
    const withoutUrls = protectedText.replace(URL_AUTHORITY, (whole, scheme: string, _userinfo: string | undefined, host: string) =>
      isInternal(host) ? `${scheme}${HIDDEN_ADDRESS}` : whole,
    );
    const withoutHosts = withoutUrls.replace(HOST_TOKEN, (whole, host: string, port: string | undefined) => {
      if (!isInternal(host)) return whole;
      // A bare one-label word ("redis", "synapse") is also plain English; hidden only with a port.
      const bareLabel = !port && !isIP(host.replace(/^\[|\]$/g, '')) && !host.includes('.') && host.toLowerCase() !== 'localhost';
      return bareLabel ? whole : HIDDEN_ADDRESS;
    });
    return withoutHosts.replace(/\u0001(\d+)\u0001/g, (_m, index: string) => kept[Number(index)]!);
  };
}

/** The host of `host`, `host:port`, `[v6]:port` or a URL; undefined for what is none of these. */
function hostOf(entry: string): string | undefined {
  const text = entry.trim();
  if (!text || text === '*') return undefined;
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return new URL(text).hostname.toLowerCase().replace(/^\[|\]$/g, '') || undefined;
  } catch {
    return undefined;
  }
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) return bracketed[1]!.toLowerCase();
  if (isIP(text)) return text.toLowerCase();
  return text.replace(/:\d+$/, '').toLowerCase();
}
