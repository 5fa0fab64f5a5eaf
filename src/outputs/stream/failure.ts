// Why a destination's ffmpeg stopped, in one plain sentence that names the destination by its
// printable form. ffmpeg reports network failures only as text on stderr (its exit code is 1 for
// all of them), so this is the one place that reads that text; every other decision uses our own
// state (was it live, did we kill it for a stall).
import type { DestinationKind } from './destination.ts';

export type FailureKind =
  /** The ingest answered and refused: a wrong stream key, passphrase or stream id. */
  | 'refused'
  /** The host name does not resolve. */
  | 'unknown-host'
  /** Nothing accepted the connection, or nothing answered in time. */
  | 'unreachable'
  /** It was connected, then no bytes left for the stall timeout. */
  | 'stalled'
  /** We ended it (the encoder restarted). */
  | 'restarted'
  | 'error';

export interface Failure {
  kind: FailureKind;
  sentence: string;
}

export interface FailureContext {
  destinationKind: DestinationKind;
  printable: string;
  /** Masked stderr lines, oldest first. */
  stderr: string[];
  /** True when the process opened its output (progress advanced) before it ended. */
  wasConnected: boolean;
  /** Set when we killed it: for a stall (after being live) or for no answer (while connecting). */
  killedFor?: 'stall' | 'connect-timeout' | 'restart';
  timeoutMs: number;
}

const has = (lines: string[], pattern: RegExp) => lines.some((l) => pattern.test(l));

/** The failure kinds that mean a first attempt should not be retried: a person has to fix something. */
export const FATAL_BEFORE_LIVE: ReadonlySet<FailureKind> = new Set(['refused', 'unknown-host', 'unreachable']);

export function classifyFailure(ctx: FailureContext): Failure {
  const { printable, stderr } = ctx;
  const seconds = Math.round(ctx.timeoutMs / 1000);
  if (ctx.killedFor === 'restart') return { kind: 'restarted', sentence: `${printable} was restarted (the stream's encoder restarted).` };
  if (ctx.killedFor === 'stall') return { kind: 'stalled', sentence: `${printable} stopped taking the stream: nothing left for ${seconds} s.` };
  if (ctx.killedFor === 'connect-timeout') return { kind: 'unreachable', sentence: `${printable} did not answer within ${seconds} s.` };
  if (has(stderr, /Failed to resolve hostname|Name or service not known|Temporary failure in name resolution/i)) {
    return { kind: 'unknown-host', sentence: `${printable} cannot be reached: its host name does not resolve.` };
  }
  if (has(stderr, /Connection refused/i)) {
    return { kind: 'unreachable', sentence: `${printable} cannot be reached: nothing accepts connections there.` };
  }
  if (has(stderr, /timed out|Network is unreachable|No route to host/i)) {
    return { kind: 'unreachable', sentence: `${printable} cannot be reached: no answer.` };
  }
  if (ctx.destinationKind === 'srt') {
    if (has(stderr, /Incorrect passphrase|BADSECRET/i)) return { kind: 'refused', sentence: `${printable} refused the stream: wrong passphrase.` };
    if (has(stderr, /REJECT|rejected/i)) return { kind: 'refused', sentence: `${printable} refused the stream (the SRT listener rejected the connection: check the stream id and passphrase).` };
    // libsrt reports a listener that never answers only as "Input/output error" after its connect timeout.
    if (!ctx.wasConnected && has(stderr, /Input\/output error/)) return { kind: 'unreachable', sentence: `${printable} cannot be reached: no SRT listener answered.` };
  }
  if (ctx.destinationKind === 'rtmp') {
    if (has(stderr, /TLS|SSL|certificate|handshake/i) && !ctx.wasConnected) {
      return { kind: 'refused', sentence: `${printable}: the secure (TLS) connection failed.` };
    }
    // The TCP connection and the RTMP handshake worked (those fail with their own words above), and
    // the publish was answered by closing the connection: how nginx-rtmp, YouTube and others refuse a key.
    if (!ctx.wasConnected && has(stderr, /Input\/output error|Server error|NetStream\.Publish\.BadName|Connection reset/i)) {
      return { kind: 'refused', sentence: `${printable} refused the stream: the ingest did not accept the stream key.` };
    }
  }
  const last = stderr.at(-1);
  return { kind: 'error', sentence: `${printable} failed${last ? `: ${last}` : ''}.` };
}
