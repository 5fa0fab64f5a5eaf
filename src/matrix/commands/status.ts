import { noArgs, type CommandSpec } from './registry.ts';
import { describeSession, type SessionControl } from './sessions.ts';

export function statusCommand(sessions: SessionControl): CommandSpec {
  return {
    name: 'status',
    usage: '',
    description: 'Show what runs in this room (recording, each stream with its state, bitrate and uptime), for how long, and who is heard.',
    privileged: false,
    acceptsArgs: noArgs,
    async run(ctx) {
      const status = await sessions.status(ctx.roomId);
      await ctx.reply(status ? describeSession(status) : 'Nothing is being recorded in this room.');
    },
  };
}
