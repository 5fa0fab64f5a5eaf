// Which SFUs to connect to (protocol notes §5.3), as a pure function of the call's memberships.

export type FocusSelection = 'multi_sfu' | 'oldest_membership';

export interface MemberMedia {
  userId: string;
  deviceId: string;
  /** The LiveKit identity the member connects with (js-sdk `rtcBackendIdentity`). */
  identity: string;
  /** Authorizer URL of the SFU the member publishes on (js-sdk `getTransport(oldest)`), if any. */
  serviceUrl: string | undefined;
}

export interface PlannedConnection {
  serviceUrl: string;
  /** The connection the bot publishes on: legacy credentials, the identity peers expect. */
  own: boolean;
  /** Identities expected on this SFU. */
  identities: string[];
  /** The Matrix users whose memberships name this SFU (to say whose SFU was refused or unreachable). */
  users: string[];
}

export const normaliseServiceUrl = (url: string) => url.replace(/\/+$/, '');

/**
 * One connection per distinct transport (deduplicated by service URL). The bot's own
 * connection is its preferred transport in multi-SFU calls, the oldest member's in
 * oldest-membership calls; it serves the members on the same SFU too.
 */
export function planConnections(ownServiceUrl: string, members: MemberMedia[]): PlannedConnection[] {
  const own = normaliseServiceUrl(ownServiceUrl);
  const byUrl = new Map<string, PlannedConnection>([[own, { serviceUrl: own, own: true, identities: [], users: [] }]]);
  for (const member of members) {
    if (!member.serviceUrl) continue;
    const url = normaliseServiceUrl(member.serviceUrl);
    let connection = byUrl.get(url);
    if (!connection) byUrl.set(url, (connection = { serviceUrl: url, own: false, identities: [], users: [] }));
    connection.identities.push(member.identity);
    if (!connection.users.includes(member.userId)) connection.users.push(member.userId);
  }
  return [...byUrl.values()];
}

/** Members whose transport is unknown: their media cannot be found, which the session reports. */
export const membersWithoutTransport = (members: MemberMedia[]) => members.filter((m) => !m.serviceUrl);
