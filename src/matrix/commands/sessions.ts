import type { StartResult, SessionStatus } from '../../jobs/producer.ts';
import type { SessionJobData } from '../../jobs/queues.ts';

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
    return `A ${what} is running for ${formatDuration(now - p.joinedAt)}${people}.`;
  }
  if (p.phase === 'joining') return `A ${what} is joining the call.`;
  if (p.phase === 'stopping') return `A ${what} is stopping.`;
  return `A ${what} is queued, waiting for a worker.`;
}

export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}
