export const COMMAND_PREFIX = '!';

export interface ParsedCommand {
  name: string;
  args: string[];
}

/** Minimal shape of an m.room.message event, as read from the wire. */
export interface MessageEventLike {
  type: string;
  sender: string;
  content?: Record<string, unknown>;
}

/**
 * Extracts a command from a room message, or null when the event is not one for us:
 * not a text message, an edit (`m.replace`; the original was already handled), or our own.
 */
export function parseCommandEvent(event: MessageEventLike, ownUserIds: ReadonlySet<string>): ParsedCommand | null {
  if (event.type !== 'm.room.message' || ownUserIds.has(event.sender)) return null;
  const content = event.content ?? {};
  if (content.msgtype !== 'm.text' || typeof content.body !== 'string') return null;
  const relation = content['m.relates_to'] as { rel_type?: unknown } | undefined;
  if (relation?.rel_type === 'm.replace' || 'm.new_content' in content) return null;
  return parseCommandText(content.body);
}

export function parseCommandText(body: string): ParsedCommand | null {
  const text = stripReplyFallback(body).trim();
  if (!text.startsWith(COMMAND_PREFIX)) return null;
  const [head, ...args] = text.slice(COMMAND_PREFIX.length).split(/\s+/);
  if (!head) return null;
  return { name: head.toLowerCase(), args: args.filter(Boolean) };
}

/** Replies carry the quoted original as `> ` lines first; the command follows them. */
function stripReplyFallback(body: string): string {
  const lines = body.split('\n');
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith('> ')) i++;
  return lines.slice(i).join('\n');
}
