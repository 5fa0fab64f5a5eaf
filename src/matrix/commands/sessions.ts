import type { AddOutputResult, StartResult, SessionStatus } from '../../jobs/producer.ts';
import type { OutputRecord } from '../../jobs/outputs.ts';
import type { OutputProgress, SessionJobData } from '../../jobs/queues.ts';
import { formatBytes, formatDuration } from '../../format.ts';

/** What the commands need from the job queue (SessionQueue implements it). */
export interface SessionControl {
  start(data: Omit<SessionJobData, 'version'>): Promise<StartResult>;
  stop(roomId: string, by: string): Promise<SessionStatus | null>;
  status(roomId: string): Promise<SessionStatus | null>;
  addOutput(data: Omit<SessionJobData, 'version'>, output: OutputRecord): Promise<AddOutputResult>;
  removeOutputs(roomId: string, which: (output: OutputRecord) => boolean, by: string): Promise<OutputRecord[]>;
  outputs(jobId: string): Promise<OutputRecord[]>;
}

export function describeSession(s: SessionStatus, now = Date.now()): string {
  const p = s.progress;
  const what = `session requested by ${s.data.requestedBy}`;
  if (p.phase === 'in-call' && p.joinedAt) {
    const people = p.participants?.length ? `; receiving ${p.participants.join(', ')}` : '; no other participants yet';
    const written = p.bytes !== undefined ? `; ${formatBytes(p.bytes)} recorded` : '';
    const outputs = p.outputs?.length ? `\n${p.outputs.map((o) => `- ${describeOutput(o)}`).join('\n')}` : '';
    return `A ${what} is in the call for ${formatDuration(now - p.joinedAt)}${people}${written}.${outputs}`;
  }
  if (p.phase === 'joining') return `A ${what} is joining the call.`;
  if (p.phase === 'stopping') return `A ${what} is stopping.`;
  return `A ${what} is queued, waiting for a worker.`;
}

export function describeOutput(o: OutputProgress): string {
  switch (o.state) {
    case 'recording':
      return `${o.label}: recording`;
    case 'live':
      return `${o.label}: live for ${formatDuration(o.uptimeMs ?? 0)}${o.bitrateKbps !== undefined ? `, ${Math.round(o.bitrateKbps)} kbit/s` : ''}`;
    case 'retrying':
      return `${o.label}: retrying (attempt ${o.attempt ?? '?'}${o.reason ? `; ${o.reason}` : ''})`;
    case 'failed':
      return `${o.label}: failed${o.reason ? ` (${o.reason})` : ''}`;
    case 'connecting':
      return `${o.label}: connecting`;
    case 'stopped':
      return `${o.label}: stopped`;
  }
}
