import type { RecordingKind } from '../../jobs/queues.ts';
import type { CommandSpec } from './registry.ts';
import { describeSession, type SessionControl } from './sessions.ts';

const KINDS: readonly RecordingKind[] = ['audio', 'video'];

export function recordCommand(sessions: SessionControl, defaultKind: RecordingKind): CommandSpec {
  return {
    name: 'record',
    usage: '[audio|video]',
    description: 'Join the call in this room and record it (beside any streams already running).',
    privileged: true,
    acceptsArgs: (args) => args.length === 0 || (args.length === 1 && KINDS.includes(args[0]!.toLowerCase() as RecordingKind)),
    async run(ctx) {
      const kind = (ctx.args[0]?.toLowerCase() as RecordingKind | undefined) ?? defaultKind;
      const requestedAt = Date.now();
      const result = await sessions.addOutput(
        { roomId: ctx.roomId, requestedBy: ctx.sender, requestEventId: ctx.eventId, kind, requestedAt },
        { id: 'recording', type: 'recording', kind, requestedBy: ctx.sender, requestEventId: ctx.eventId, at: requestedAt },
      );
      if (result.outcome === 'exists') {
        await ctx.reply(`Already recording here. ${describeSession(result.running)}`);
        return;
      }
      ctx.log.info({ jobId: result.jobId, kind }, result.outcome === 'started' ? 'session queued' : 'recording added to the session');
      await ctx.reply(`${ctx.sender} asked me to record this call (${kind}). ${result.outcome === 'started' ? 'Joining the call…' : 'Starting…'}${result.waitingForWorker ? ` ${result.waitingForWorker}` : ''}`);
    },
  };
}
