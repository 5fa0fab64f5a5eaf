/** The parts of m.room.power_levels content that decide a user's level. */
export interface PowerLevelsContent {
  users?: Record<string, unknown>;
  users_default?: unknown;
  events?: Record<string, unknown>;
  state_default?: unknown;
}

const asLevel = (value: unknown, fallback: number) =>
  typeof value === 'number' && Number.isInteger(value) ? value : fallback;

/** The parts of m.room.create that decide who the creators are. */
export interface CreateEvent {
  sender: string;
  content: { room_version?: unknown; additional_creators?: unknown };
}

/**
 * Room versions from 12 on (MSC4289) give the creators infinite power, and they are not listed
 * in m.room.power_levels; older versions treat them like anyone else there.
 */
export function privilegedCreators(create: CreateEvent | undefined): Set<string> {
  if (!create) return new Set();
  const version = String(create.content.room_version ?? '1');
  const privileged = version.startsWith('org.matrix.hydra.') || (/^\d+$/.test(version) && Number(version) >= 12);
  if (!privileged) return new Set();
  const additional = Array.isArray(create.content.additional_creators) ? create.content.additional_creators.filter((u) => typeof u === 'string') : [];
  return new Set([create.sender, ...additional]);
}

/** A user's power level, per the spec's defaults; privileged creators have infinite power. */
export function userPowerLevel(content: PowerLevelsContent | undefined, userId: string, creators: ReadonlySet<string> = new Set()): number {
  if (creators.has(userId)) return Infinity;
  if (!content) return 0;
  return asLevel(content.users?.[userId], asLevel(content.users_default, 0));
}

/** The level needed to send a state event of `eventType`. */
export function stateEventPowerLevel(content: PowerLevelsContent | undefined, eventType: string): number {
  if (!content) return 0;
  return asLevel(content.events?.[eventType], asLevel(content.state_default, 50));
}

/**
 * Whether a user is on the allow-list: `*`, the exact user ID, or the user's server name.
 * Server names are compared case-insensitively (DNS names), user IDs exactly.
 */
export function isAllowed(allow: readonly string[], userId: string): boolean {
  const server = userId.slice(userId.indexOf(':') + 1).toLowerCase();
  return allow.some((entry) => entry === '*' || entry === userId || (!entry.startsWith('@') && entry.toLowerCase() === server));
}

/** `permissions.allow`, or, when unset, the homeserver's own users: a new bot serves nobody from elsewhere by default. */
export function effectiveAllowList(allow: readonly string[] | undefined, homeserverDomain: string): readonly string[] {
  return allow ?? [homeserverDomain];
}
