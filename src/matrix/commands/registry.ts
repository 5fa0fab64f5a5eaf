import type { Logger } from '../../observability/logger.ts';
import { CommandError } from '../../errors.ts';
import { COMMAND_PREFIX, type ParsedCommand } from './parse.ts';

export interface CommandContext {
  roomId: string;
  sender: string;
  eventId: string;
  args: string[];
  log: Logger;
  /** Sends a notice to the room, as a reply to the command. */
  reply(text: string): Promise<void>;
  /** The sender's power level in the room. */
  senderPowerLevel(): Promise<number>;
  /** Redacts the command's event (it held a secret); rejects when the bot may not. */
  redactCommand(reason: string): Promise<void>;
}

export interface CommandSpec {
  name: string;
  /** Usage of the arguments, e.g. `[audio|video]`; empty when there are none. */
  usage: string;
  description: string;
  /** Starting or stopping things needs `permissions.minPowerLevel`; reading state does not. */
  privileged: boolean;
  /** Accepts the arguments or returns false (the user then gets the usage line). */
  acceptsArgs(args: string[]): boolean;
  /** The arguments as they may be logged (secrets masked); default: as typed. */
  redactArgs?(args: string[]): string[];
  run(ctx: CommandContext): Promise<void>;
}

export const noArgs = (args: string[]) => args.length === 0;

export class CommandRegistry {
  readonly #commands = new Map<string, CommandSpec>();
  readonly #minPowerLevel: number;

  constructor(minPowerLevel: number) {
    this.#minPowerLevel = minPowerLevel;
  }

  add(...commands: CommandSpec[]): this {
    for (const command of commands) {
      if (this.#commands.has(command.name)) throw new Error(`duplicate command ${command.name}`);
      this.#commands.set(command.name, command);
    }
    return this;
  }

  /** Whether `name` is one of our commands. */
  has(name: string): boolean {
    return this.#commands.has(name);
  }

  list(): CommandSpec[] {
    return [...this.#commands.values()];
  }

  /** What may be logged of a command's arguments. */
  loggableArgs(parsed: ParsedCommand): string[] {
    return this.#commands.get(parsed.name)?.redactArgs?.(parsed.args) ?? parsed.args;
  }

  /** Runs a parsed command. User mistakes become CommandError; the caller replies with them. */
  async dispatch(parsed: ParsedCommand, ctx: Omit<CommandContext, 'args'>): Promise<void> {
    const command = this.#commands.get(parsed.name);
    if (!command) {
      throw new CommandError(
        `Unknown command ${COMMAND_PREFIX}${parsed.name}. Type ${COMMAND_PREFIX}help for the list of commands.`,
        'MRR_UNKNOWN_COMMAND',
      );
    }
    if (!command.acceptsArgs(parsed.args)) {
      throw new CommandError(`Usage: ${usageLine(command)}`, 'MRR_USAGE');
    }
    if (command.privileged) {
      const level = await ctx.senderPowerLevel();
      if (level < this.#minPowerLevel) {
        throw new CommandError(
          `${COMMAND_PREFIX}${command.name} needs power level ${this.#minPowerLevel} in this room; ${ctx.sender} has ${level}.`,
          'M_FORBIDDEN',
        );
      }
    }
    await command.run({ ...ctx, args: parsed.args });
  }
}

export function usageLine(command: CommandSpec): string {
  return `${COMMAND_PREFIX}${command.name}${command.usage ? ` ${command.usage}` : ''}`;
}
