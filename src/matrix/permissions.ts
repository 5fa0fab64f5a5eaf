/** The parts of m.room.power_levels content that decide a user's level. */
export interface PowerLevelsContent {
  users?: Record<string, unknown>;
  users_default?: unknown;
  events?: Record<string, unknown>;
  state_default?: unknown;
}

const asLevel = (value: unknown, fallback: number) =>
  typeof value === 'number' && Number.isInteger(value) ? value : fallback;

/** A user's power level, per the spec's defaults (room creator handling is the server's job). */
export function userPowerLevel(content: PowerLevelsContent | undefined, userId: string): number {
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
