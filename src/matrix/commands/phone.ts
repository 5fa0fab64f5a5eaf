// Phone commands: `!pin <digits>|clear` sets the PIN that lets callers of the conference number
// into this room's call (the command is redacted: the PIN is a secret); `!dial <sip-uri|number>`
// brings an outside party into the call; `!hangup <who>|all` ends legs. Dial and hang-up are
// carried out by the worker that runs the SIP endpoint, which reports to the room.
import { CommandError } from '../../errors.ts';
import { pinProblem, type PinStore } from '../../bridge/pin-store.ts';
import { dialTargetProblem } from '../../bridge/dial-target.ts';
import { DTMF_DIGITS, type SipRequest } from '../../bridge/sip-control.ts';
import type { CommandSpec } from './registry.ts';

export interface PhoneCommandDeps {
  pins: PinStore;
  /** Publishes a request to the SIP worker; false when none listens. */
  sendSip(request: SipRequest): Promise<boolean>;
  /** The number callers dial to be asked for a PIN, when one is configured. */
  conferenceNumber: string | undefined;
}

const NO_SIP_WORKER = 'No worker bridges phone calls right now (sip.enabled is off, or the SIP worker is down).';

export function phoneCommands(deps: PhoneCommandDeps): CommandSpec[] {
  return [pinCommand(deps), dialCommand(deps), hangupCommand(deps), dtmfCommand(deps)];
}

function pinCommand(deps: PhoneCommandDeps): CommandSpec {
  return {
    name: 'pin',
    usage: '<4-12 digits> | clear',
    description: 'Set the PIN phone callers enter to join this room\'s call (or clear it). The command is redacted; the PIN is never shown.',
    privileged: true,
    acceptsArgs: (args) => args.length === 1,
    redactArgs: (args) => args.map((a) => (a === 'clear' ? a : '<pin>')),
    async run(ctx) {
      const [arg] = ctx.args as [string];
      if (arg === 'clear') {
        await ctx.reply((await deps.pins.clear(ctx.roomId)) ? 'The conference PIN of this room is cleared; callers can no longer join with it.' : 'This room has no conference PIN.');
        return;
      }
      // Out of the room first, whatever happens next: a typed PIN is a secret.
      const redacted = await ctx.redactCommand('contained a conference PIN').then(
        () => true,
        (err: unknown) => (ctx.log.info({ err }, 'could not redact a command with a PIN'), false),
      );
      const problem = pinProblem(arg);
      if (problem) throw new CommandError(`That PIN cannot be used: ${problem}.`, 'MRR_PIN');
      if ((await deps.pins.set(ctx.roomId, arg)) === 'taken') throw new CommandError('Another room uses that PIN; choose another.', 'MRR_PIN_TAKEN');
      const where = deps.conferenceNumber ? ` Callers dial ${deps.conferenceNumber} and enter it, followed by #.` : ' (No conference number is configured yet: sip.conferenceNumber.)';
      await ctx.reply(`The conference PIN of this room is set.${where}${redacted ? '' : ' I could not redact your message: redact it yourself, it shows the PIN.'}`);
    },
  };
}

function dialCommand(deps: PhoneCommandDeps): CommandSpec {
  return {
    name: 'dial',
    usage: '<sip-uri or number>',
    description: 'Call a phone number (through the configured trunk) or a SIP address and bring them into this room\'s call.',
    privileged: true,
    acceptsArgs: (args) => args.length === 1,
    async run(ctx) {
      const [target] = ctx.args as [string];
      const problem = dialTargetProblem(target);
      if (problem) throw new CommandError(`I cannot dial ${target}: ${problem}.`, 'MRR_DIAL_TARGET');
      if (!(await deps.sendSip({ type: 'dial', roomId: ctx.roomId, target, by: ctx.sender, replyTo: ctx.eventId }))) throw new CommandError(NO_SIP_WORKER, 'MRR_NO_SIP');
      await ctx.reply(`Calling ${target} (asked by ${ctx.sender})…`);
    },
  };
}

function dtmfCommand(deps: PhoneCommandDeps): CommandSpec {
  return {
    name: 'dtmf',
    usage: '<keys> [<who>]',
    description: 'Press keys (0-9 * # A-D) on the phone line of a caller in this call (all of them when none is named), e.g. to answer a voice menu after !dial.',
    privileged: true,
    acceptsArgs: (args) => args.length >= 1 && args.length <= 2 && DTMF_DIGITS.test(args[0]!.toUpperCase()),
    async run(ctx) {
      const [digits, who] = ctx.args as [string, string | undefined];
      const request: SipRequest = { type: 'dtmf', roomId: ctx.roomId, digits: digits.toUpperCase(), ...(who ? { who } : {}), by: ctx.sender, replyTo: ctx.eventId };
      if (!(await deps.sendSip(request))) throw new CommandError(NO_SIP_WORKER, 'MRR_NO_SIP');
    },
  };
}

function hangupCommand(deps: PhoneCommandDeps): CommandSpec {
  return {
    name: 'hangup',
    usage: '<number, SIP address or caller user ID> | all',
    description: 'End a phone caller\'s leg in this room\'s call, or all of them.',
    privileged: true,
    acceptsArgs: (args) => args.length === 1,
    async run(ctx) {
      const [who] = ctx.args as [string];
      if (!(await deps.sendSip({ type: 'hangup', roomId: ctx.roomId, who, by: ctx.sender, replyTo: ctx.eventId }))) throw new CommandError(NO_SIP_WORKER, 'MRR_NO_SIP');
    },
  };
}
