import { noArgs, type CommandSpec } from './registry.ts';
import type { SessionControl } from './sessions.ts';

export function stopCommand(sessions: SessionControl): CommandSpec {
  return {
    name: 'stop',
    usage: '',
    description: 'Stop the recording in this room and leave the call.',
    privileged: true,
    acceptsArgs: noArgs,
    async run(ctx) {
      const stopped = await sessions.stop(ctx.roomId, ctx.sender);
      if (!stopped) {
        await ctx.reply('Nothing is being recorded in this room.');
        return;
      }
      ctx.log.info({ jobId: stopped.jobId }, 'stop requested');
      await ctx.reply(`Stopping the recording (asked by ${ctx.sender}).`);
    },
  };
}
