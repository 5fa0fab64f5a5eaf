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
    // Who is in the call now; a worker from before `inCall` existed reports whom it heard.
    const present = p.inCall ?? p.participants;
    const people = present?.length ? `; in the call now: ${present.join(', ')}` : '; no other participants now';
    const written = p.bytes !== undefined ? `; ${formatBytes(p.bytes)} recorded` : '';
    const lines = [`A ${what} is in the call for ${formatDuration(now - p.joinedAt)}${people}${written}.`];
    const recording = p.outputs?.find((o) => o.id === 'recording');
    if (recording) lines.push(`Recorded: ${/\(video\)/.test(recording.label) ? 'audio (the mix and one file per speaker) and video (cameras, screen shares and name cards)' : 'audio (the mix and one file per speaker)'}.`);
    if (p.paused) lines.push(`Paused by ${p.paused.by} ${formatDuration(now - p.paused.since)} ago: nothing is recorded or streamed until !resume.`);
    if (p.notRecorded?.length) lines.push(`Not recorded (opted out, or not opted in): ${p.notRecorded.join(', ')}.`);
    if (p.outputs?.length) lines.push(...p.outputs.map((o) => `- ${describeOutput(o)}`));
    return lines.join('\n');
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
