// The audit trail: one log line when a recording or a stream starts and one when it ends, with
// who asked, the room, the times, the files and where they went. Lines carry `audit: true` and
// `event`, so a log pipeline can keep them apart (and longer) than the rest. Never media, keys or
// stream keys: a destination is named by its configured name and scheme://host only.
import type { Logger } from './logger.ts';

export interface AuditFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface RecordingAudit {
  requestedBy: string;
  kind: string;
  segment: number;
  /** The segment's local directory. */
  directory: string;
}

export interface RecordingEndAudit extends RecordingAudit {
  startedAt: string;
  endedAt: string;
  endReason: string;
  files: AuditFile[];
  /** Archive locations (directory paths, or object store URLs without credentials or query). */
  archivedTo: string[];
  uploadedToRoom: { files: number; of: number };
  /** Until when the local files are kept (absent: until deleted by hand). */
  localUntil?: string;
}

export interface StreamAudit {
  requestedBy: string;
  kind: string;
  /** The configured destination name; absent for a URL typed in the room. */
  destination?: string;
  /** rtmp://host, srt://host:port or hls:<directory>. */
  target: string;
}

/** A child logger whose lines are audit lines; give it the session's logger (room and job are bound there). */
export function auditLog(log: Logger): Logger {
  return log.child({ audit: true });
}

export function auditRecordingStarted(audit: Logger, entry: RecordingAudit & { startedAt: string }): void {
  audit.info({ event: 'recording.started', ...entry }, 'audit: recording started');
}

export function auditRecordingEnded(audit: Logger, entry: RecordingEndAudit): void {
  audit.info({ event: 'recording.ended', ...entry }, 'audit: recording ended');
}

export function auditStreamStarted(audit: Logger, entry: StreamAudit & { startedAt: string }): void {
  audit.info({ event: 'stream.started', ...entry }, 'audit: stream started');
}

export function auditStreamEnded(audit: Logger, entry: StreamAudit & { startedAt: string; endedAt: string; endReason: string }): void {
  audit.info({ event: 'stream.ended', ...entry }, 'audit: stream ended');
}

/** A storage location without credentials, query or fragment (a path stays as it is). */
export function safeLocation(location: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return location;
  try {
    const url = new URL(location);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    // Not parseable as a URL: say only its scheme rather than risk a credential.
    return `${location.split(':')[0]}://(unparseable)`;
  }
}

/** scheme://host[:port] of a stream URL, or hls:<directory>. */
export function streamTarget(destination: { kind: 'rtmp' | 'srt' | 'hls'; url?: string; directory?: string }): string {
  if (destination.kind === 'hls') return `hls:${destination.directory}`;
  try {
    const url = new URL(destination.url!);
    return `${url.protocol}//${url.host}`;
  } catch {
    return `${destination.kind}://(unparseable)`;
  }
}
