// Requests from the bridge (a `!dial` or `!hangup` typed in a room) to the worker that runs the
// SIP endpoint, over a Redis pub/sub channel. PUBLISH says how many processes listen: none means
// no worker bridges phone calls, which the command can tell the user at once.
import type { Redis } from 'ioredis';

export type SipRequest =
  | { type: 'dial'; roomId: string; target: string; by: string; replyTo?: string }
  | { type: 'hangup'; roomId: string; who: string; by: string; replyTo?: string }
  | { type: 'dtmf'; roomId: string; digits: string; who?: string; by: string; replyTo?: string };

/** Keys a phone keypad sends (RFC 4733 events 0-15). */
export const DTMF_DIGITS = /^[0-9*#A-D]{1,32}$/;

export const sipControlChannel = (prefix: string) => `${prefix}:sip:control`;

/** Publishes a request; false when no SIP worker listens. */
export async function sendSipRequest(redis: Redis, prefix: string, request: SipRequest): Promise<boolean> {
  return (await redis.publish(sipControlChannel(prefix), JSON.stringify(request))) > 0;
}

export function parseSipRequest(message: string): SipRequest {
  const value = JSON.parse(message) as Partial<SipRequest>;
  if (typeof value !== 'object' || value === null || typeof value.roomId !== 'string' || typeof value.by !== 'string') throw new Error('a SIP request needs a roomId and a sender');
  if (value.type === 'dial' && typeof value.target === 'string') return value as SipRequest;
  if (value.type === 'hangup' && typeof value.who === 'string') return value as SipRequest;
  if (value.type === 'dtmf' && typeof value.digits === 'string' && DTMF_DIGITS.test(value.digits)) return value as SipRequest;
  throw new Error(`unknown SIP request ${JSON.stringify(value.type)}`);
}
