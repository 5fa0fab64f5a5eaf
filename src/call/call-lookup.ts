// Small waits and lookups of joining a call: the room in the session client, the first
// memberships js-sdk computes, and which SFU the bot publishes on.
import { ClientEvent, type MatrixClient, type Room } from 'matrix-js-sdk';
import { MatrixRTCSessionEvent, type MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import { RecorderError } from '../errors.ts';
import type { FocusSelection } from '../rtc/connection-plan.ts';
import { CALL_MEMBER_EVENT } from '../rtc/own-membership.ts';
import type { LivekitTransport } from '../rtc/transports.ts';
import type { CallMember } from './call-members.ts';
import type { CallRoster } from './call-roster.ts';

/** In multi-SFU calls we publish on our own transport; otherwise on the oldest member's SFU. */
export function ownConnectionUrl(selection: FocusSelection, own: LivekitTransport, members: CallMember[]): string {
  if (selection === 'multi_sfu' || members.length === 0) return own.livekit_service_url;
  const oldest = members.reduce((a, b) => (b.createdTs < a.createdTs ? b : a));
  return oldest.serviceUrl ?? own.livekit_service_url;
}

export function oldestMembershipContent(room: Room, members: CallMember[]): Record<string, unknown> | undefined {
  const oldest = members.reduce((a, b) => (b.createdTs < a.createdTs ? b : a));
  const events = room.currentState.getStateEvents(CALL_MEMBER_EVENT);
  return events.find((e) => e.getSender() === oldest.userId && e.getContent().device_id === oldest.deviceId)?.getContent();
}

export async function fetchWellKnown(homeserverUrl: string): Promise<Record<string, unknown>> {
  const url = new URL('/.well-known/matrix/client', homeserverUrl);
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

export function waitForRoom(client: MatrixClient, roomId: string, timeoutMs: number): Promise<Room> {
  const existing = client.getRoom(roomId);
  if (existing) return Promise.resolve(existing);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(ClientEvent.Room, onRoom);
      reject(new RecorderError(`the session device did not see room ${roomId} within ${timeoutMs} ms`, 'MRR_ROOM_TIMEOUT'));
    }, timeoutMs);
    const onRoom = (room: Room) => {
      if (room.roomId !== roomId) return;
      clearTimeout(timer);
      client.off(ClientEvent.Room, onRoom);
      resolve(room);
    };
    client.on(ClientEvent.Room, onRoom);
  });
}

/**
 * js-sdk parses memberships asynchronously after sync; give it a moment before concluding there
 * is no call. When the call's members are unreadable ones, nobody readable is to be expected.
 */
export async function waitForMembers(session: MatrixRTCSession, roster: CallRoster, unreadableExpected: boolean, timeoutMs: number): Promise<CallMember[]> {
  const current = () => roster.readable();
  await session.initialMembershipCalculated;
  if (current().length > 0 || unreadableExpected) return current();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      session.off(MatrixRTCSessionEvent.MembershipsChanged, onChange);
      resolve();
    }
    const onChange = () => {
      if (current().length > 0) done();
    };
    session.on(MatrixRTCSessionEvent.MembershipsChanged, onChange);
  });
  return current();
}
