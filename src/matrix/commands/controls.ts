// Commands that act on a running recording without starting or stopping it: !pause, !resume and
// !mark, and the consent commands !optout, !optin and !consent. Each checks the session's control
// log (jobs/controls.ts) and appends to it; the worker that holds the session applies the entry
// and tells the room, so a confirmation in the room means it took effect.
import type { SessionStatus } from '../../jobs/producer.ts';
import { CONSENT_MODES, isRecorded, replayControls, type ConsentMode, type ControlEvent } from '../../jobs/controls.ts';
import { formatDuration } from '../../format.ts';
import { noArgs, type CommandContext, type CommandSpec } from './registry.ts';

/** What these commands need from the job queue (SessionQueue implements it). */
export interface ControlQueue {
  controlState(roomId: string): Promise<{ running: SessionStatus; events: ControlEvent[] } | null>;
  appendControl(jobId: string, event: ControlEvent, by: string): Promise<void>;
  consentMode(roomId: string): Promise<ConsentMode>;
  setConsentMode(roomId: string, mode: ConsentMode): Promise<void>;
}

const NOTHING = 'Nothing is being recorded in this room.';

/** The room's session and its state, or a reply saying there is none. */
async function runningState(queue: ControlQueue, ctx: CommandContext) {
  const found = await queue.controlState(ctx.roomId);
  if (!found) await ctx.reply(NOTHING);
  return found ? { jobId: found.running.jobId, state: replayControls(found.events) } : undefined;
}

/** Longest chapter title kept: a title is a line in a player's menu, not a paragraph. */
const MAX_TITLE = 100;

type ControlState = ReturnType<typeof replayControls>;

/** A command that appends one entry to the running session's control log, unless the state makes it pointless. */
interface ControlSpec extends Omit<CommandSpec, 'run'> {
  /** Why the command does nothing now (the reply), or undefined to go ahead. */
  refusal?: (state: ControlState, ctx: CommandContext) => string | undefined;
  event: (ctx: CommandContext) => ControlEvent;
}

function controlCommand(queue: ControlQueue, spec: ControlSpec): CommandSpec {
  const { refusal, event, ...command } = spec;
  return {
    ...command,
    async run(ctx) {
      const found = await runningState(queue, ctx);
      if (!found) return;
      const refused = refusal?.(found.state, ctx);
      if (refused) await ctx.reply(refused);
      else await queue.appendControl(found.jobId, event(ctx), ctx.sender);
    },
  };
}

export function controlCommands(queue: ControlQueue): CommandSpec[] {
  const pause = controlCommand(queue, {
    name: 'pause',
    usage: '',
    description: 'Pause the recording (and streams): nothing of the call is kept until !resume; the files go on as one, with a chapter where it resumed.',
    privileged: true,
    acceptsArgs: noArgs,
    refusal: ({ paused }) =>
      paused ? `Already paused (by ${paused.by}, ${formatDuration(Date.now() - paused.since)} ago). Type !resume to go on.` : undefined,
    event: (ctx) => ({ type: 'pause', by: ctx.sender, at: Date.now() }),
  });
  const resume = controlCommand(queue, {
    name: 'resume',
    usage: '',
    description: 'Resume a paused recording.',
    privileged: true,
    acceptsArgs: noArgs,
    refusal: ({ paused }) => (paused ? undefined : 'The recording is not paused.'),
    event: (ctx) => ({ type: 'resume', by: ctx.sender, at: Date.now() }),
  });
  const mark = controlCommand(queue, {
    name: 'mark',
    usage: '<title>',
    description: 'Add a chapter called <title> to the recording at this moment (in the files and the manifest).',
    privileged: false,
    acceptsArgs: (args) => args.length > 0,
    event: (ctx) => ({ type: 'mark', title: ctx.args.join(' ').slice(0, MAX_TITLE), by: ctx.sender, at: Date.now() }),
  });
  const optout = controlCommand(queue, {
    name: 'optout',
    usage: '',
    description: 'Leave your voice and picture out of the recording and the streams from now on (!optin takes it back).',
    privileged: false,
    acceptsArgs: noArgs,
    refusal: (state, ctx) =>
      isRecorded(state, ctx.sender)
        ? undefined
        : `${ctx.sender}: you are not being recorded${state.mode === 'required' ? ' (this room records only who typed !optin)' : ''}.`,
    event: (ctx) => ({ type: 'optout', userId: ctx.sender, at: Date.now() }),
  });
  const optin = controlCommand(queue, {
    name: 'optin',
    usage: '',
    description: 'Agree to be recorded (where the room asks first), or take back an !optout.',
    privileged: false,
    acceptsArgs: noArgs,
    refusal: (state, ctx) => (isRecorded(state, ctx.sender) ? `${ctx.sender}: you are being recorded already.` : undefined),
    event: (ctx) => ({ type: 'optin', userId: ctx.sender, at: Date.now() }),
  });
  const consent: CommandSpec = {
    name: 'consent',
    usage: '[required|notice]',
    description:
      'Show or set how this room asks for consent: "notice" records everyone who is told and does not !optout; "required" records only who typed !optin.',
    privileged: true,
    acceptsArgs: (args) => args.length === 0 || (args.length === 1 && CONSENT_MODES.includes(args[0]!.toLowerCase() as ConsentMode)),
    async run(ctx) {
      const current = await queue.consentMode(ctx.roomId);
      const wanted = ctx.args[0]?.toLowerCase() as ConsentMode | undefined;
      if (!wanted || wanted === current) {
        await ctx.reply(`Consent in this room: ${current}. ${describeMode(current)}`);
        return;
      }
      await queue.setConsentMode(ctx.roomId, wanted);
      const found = await queue.controlState(ctx.roomId);
      if (found) await queue.appendControl(found.running.jobId, { type: 'consent-mode', mode: wanted, by: ctx.sender, at: Date.now() }, ctx.sender);
      await ctx.reply(`Consent in this room is now ${wanted} (set by ${ctx.sender}). ${describeMode(wanted)}${found ? ' It applies to the recording that runs now.' : ''}`);
    },
  };
  return [pause, resume, mark, optout, optin, consent];
}

const describeMode = (mode: ConsentMode) =>
  mode === 'required' ? 'Recordings keep only the voice and picture of members who typed !optin.' : 'Everyone in the call is told and recorded unless they type !optout.';
