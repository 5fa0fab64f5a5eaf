import { noArgs, type CommandSpec } from './registry.ts';
import type { SessionControl } from './sessions.ts';

export function stopCommand(sessions: SessionControl): CommandSpec {
  return {
    name: 'stop',
    usage: '',
    description: 'Stop the recording in this room; with no stream left, leave the call.',
    privileged: true,
    acceptsArgs: noArgs,
    async run(ctx) {
      const running = await sessions.status(ctx.roomId);
      const outputs = running ? await sessions.outputs(running.jobId) : [];
      // A session from before outputs were kept in Redis has only its recording.
      if (running && outputs.length === 0) {
        await sessions.stop(ctx.roomId, ctx.sender);
        await ctx.reply(`Stopping the recording (asked by ${ctx.sender}).`);
        return;
      }
      const removed = await sessions.removeOutputs(ctx.roomId, (o) => o.type === 'recording', ctx.sender);
      if (removed.length === 0) {
        await ctx.reply(outputs.length > 0 ? 'Nothing is being recorded in this room (streams go on; !stream stop ends them).' : 'Nothing is being recorded in this room.');
        return;
      }
      ctx.log.info({ jobId: running?.jobId }, 'recording stop requested');
      const streams = outputs.filter((o) => o.type === 'stream').length;
      await ctx.reply(`Stopping the recording (asked by ${ctx.sender}).${streams > 0 ? ' The streams go on; !stream stop ends them.' : ''}`);
    },
  };
}
