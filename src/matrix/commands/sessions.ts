import type { StartResult, SessionStatus } from '../../jobs/producer.ts';
import type { SessionJobData } from '../../jobs/queues.ts';
import { formatBytes, formatDuration } from '../../format.ts';

/** What the commands need from the job queue (SessionQueue implements it). */
export interface SessionControl {
  start(data: Omit<SessionJobData, 'version'>): Promise<StartResult>;
  stop(roomId: string, by: string): Promise<SessionStatus | null>;
  status(roomId: string): Promise<SessionStatus | null>;
}

export function describeSession(s: SessionStatus, now = Date.now()): string {
  const p = s.progress;
  const what = `${s.data.kind} recording requested by ${s.data.requestedBy}`;
  if (p.phase === 'in-call' && p.joinedAt) {
    const people = p.participants?.length ? `; receiving ${p.participants.join(', ')}` : '; no other participants yet';
    const written = p.bytes !== undefined ? `; ${formatBytes(p.bytes)} written` : '';
    return `A ${what} is running for ${formatDuration(now - p.joinedAt)}${people}${written}.`;
  }
  if (p.phase === 'joining') return `A ${what} is joining the call.`;
  if (p.phase === 'stopping') return `A ${what} is stopping.`;
  return `A ${what} is queued, waiting for a worker.`;
}
