import { noArgs, usageLine, type CommandSpec } from './registry.ts';

/** `!help` lists every command of the registry it is given. */
export function helpCommand(list: () => CommandSpec[], minPowerLevel: number): CommandSpec {
  return {
    name: 'help',
    usage: '',
    description: 'Show this list of commands.',
    privileged: false,
    acceptsArgs: noArgs,
    async run(ctx) {
      const lines = list().map((c) => `${usageLine(c)}: ${c.description}${c.privileged ? ' (power level ' + minPowerLevel + ')' : ''}`);
      await ctx.reply(`I record calls in this room when asked.\n${lines.join('\n')}`);
    },
  };
}
