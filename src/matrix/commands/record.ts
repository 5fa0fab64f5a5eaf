import type { RecordingKind } from '../../jobs/queues.ts';
import type { CommandSpec } from './registry.ts';
import { describeSession, type SessionControl } from './sessions.ts';

const KINDS: readonly RecordingKind[] = ['audio', 'video'];

export function recordCommand(sessions: SessionControl, defaultKind: RecordingKind): CommandSpec {
  return {
    name: 'record',
    usage: '[audio|video] [transcript]',
    description: 'Join the call in this room and record it (beside any streams already running); `transcript`: also transcribe each speaker when it ends.',
    privileged: true,
    acceptsArgs: (args) => parseRecordArgs(args) !== undefined,
    async run(ctx) {
      const parsed = parseRecordArgs(ctx.args)!;
      const kind = parsed.kind ?? defaultKind;
      const requestedAt = Date.now();
      const result = await sessions.addOutput(
        { roomId: ctx.roomId, requestedBy: ctx.sender, requestEventId: ctx.eventId, kind, requestedAt },
        { id: 'recording', type: 'recording', kind, requestedBy: ctx.sender, requestEventId: ctx.eventId, at: requestedAt, ...(parsed.transcript ? { transcript: true } : {}) },
      );
      if (result.outcome === 'exists') {
        await ctx.reply(`Already recording here. ${describeSession(result.running)}`);
        return;
      }
      ctx.log.info({ jobId: result.jobId, kind }, result.outcome === 'started' ? 'session queued' : 'recording added to the session');
      await ctx.reply(`${ctx.sender} asked me to record this call (${kind}${parsed.transcript ? ', with a transcript' : ''}). ${result.outcome === 'started' ? 'Joining the call…' : 'Starting…'}${result.waitingForWorker ? ` ${result.waitingForWorker}` : ''}`);
    },
  };
}

/** `[audio|video] [transcript]` in either order, each at most once; undefined for anything else. */
export function parseRecordArgs(args: readonly string[]): { kind?: RecordingKind; transcript: boolean } | undefined {
  const words = args.map((a) => a.toLowerCase());
  const kinds = words.filter((w) => KINDS.includes(w as RecordingKind)) as RecordingKind[];
  const transcript = words.filter((w) => w === 'transcript').length;
  if (kinds.length > 1 || transcript > 1 || kinds.length + transcript !== words.length) return undefined;
  return { ...(kinds[0] ? { kind: kinds[0] } : {}), transcript: transcript === 1 };
}
