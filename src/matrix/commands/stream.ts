// `!stream <destination> [audio|video]` and `!stream stop [<destination>]`. Destinations are best
// named in the config (`!stream youtube`): then no stream key ever appears in the room. A URL typed
// with its key is accepted, but the key goes nowhere but the worker (sealed in the job record):
// the command is redacted when the bot may, and the user is told once to use a named destination.
import { CommandError } from '../../errors.ts';
import type { RecordingKind } from '../../jobs/queues.ts';
import { sealDestination, streamOutputId, type OutputRecord } from '../../jobs/outputs.ts';
import { DestinationError, isUrlLike, maskSecrets, parseDestination, resolveDestination, type StreamingDestinationsConfig } from '../../outputs/stream/destination.ts';
import { TypedDestinationGuard } from '../../outputs/stream/destination-guard.ts';
import { registerSecret } from '../../observability/secrets.ts';
import type { CommandContext, CommandSpec } from './registry.ts';
import type { SessionControl } from './sessions.ts';

const KINDS: readonly RecordingKind[] = ['audio', 'video'];

export interface StreamCommandDeps {
  sessions: SessionControl;
  streaming: StreamingDestinationsConfig;
  asToken: string;
  /** Where typed URLs may point (`streaming.allowedHosts`); the worker checks again when it starts the stream. */
  typedGuard: TypedDestinationGuard;
}

export function streamCommand(deps: StreamCommandDeps): CommandSpec {
  const warned = new Set<string>();
  return {
    name: 'stream',
    usage: '<destination> [audio|video] | stop [<destination>]',
    description: 'Stream the call live to a configured destination (or an rtmp://, srt:// URL, or hls); `stop` ends one or all streams.',
    privileged: true,
    acceptsArgs: (args) => args.length >= 1 && args.length <= 2 && (args[0] === 'stop' || args.length === 1 || KINDS.includes(args[1]!.toLowerCase() as RecordingKind)),
    redactArgs: (args) => args.map((arg) => maskTyped(arg)),
    async run(ctx) {
      if (ctx.args[0] === 'stop') return stopStreams(deps, ctx, ctx.args[1]);
      const text = ctx.args[0]!;
      let resolved;
      try {
        resolved = resolveDestination(text, deps.streaming);
      } catch (err) {
        if (err instanceof DestinationError) throw new CommandError(err.message, 'MRR_STREAM_DESTINATION');
        throw err;
      }
      const { destination, defaultKind, typedSecret } = resolved;
      const kind = (ctx.args[1]?.toLowerCase() as RecordingKind | undefined) ?? defaultKind ?? 'video';
      const record: OutputRecord = {
        id: streamOutputId(destination.name),
        type: 'stream',
        kind,
        destination: typedSecret ? destination.printable : text,
        label: destination.name === destination.printable ? destination.printable : `${destination.name} (${destination.printable})`,
        ...(typedSecret ? { sealedUrl: sealDestination(text, deps.asToken) } : {}),
        requestedBy: ctx.sender,
        requestEventId: ctx.eventId,
        at: Date.now(),
      };
      if (typedSecret) await keepKeyOutOfTheRoom(ctx, warned);
      if (resolved.typed) {
        try {
          await deps.typedGuard.admit(destination);
        } catch (err) {
          if (err instanceof DestinationError) throw new CommandError(err.message, 'MRR_STREAM_DESTINATION');
          throw err;
        }
      }
      const result = await deps.sessions.addOutput(
        { roomId: ctx.roomId, requestedBy: ctx.sender, requestEventId: ctx.eventId, kind, requestedAt: Date.now() },
        record,
      );
      if (result.outcome === 'exists') {
        await ctx.reply(`The call is already streamed to ${destination.printable}.`);
        return;
      }
      ctx.log.info({ jobId: result.jobId, destination: destination.printable, kind }, result.outcome === 'started' ? 'session queued for a stream' : 'stream added');
      await ctx.reply(`${ctx.sender} asked me to stream this call (${kind}) to ${destination.printable}. ${result.outcome === 'started' ? 'Joining the call…' : 'Starting…'}${result.waitingForWorker ? ` ${result.waitingForWorker}` : ''}`);
    },
  };
}

async function stopStreams(deps: StreamCommandDeps, ctx: CommandContext, name: string | undefined): Promise<void> {
  const wanted = name === undefined ? undefined : streamOutputId(name.trim());
  const removed = await deps.sessions.removeOutputs(ctx.roomId, (o) => o.type === 'stream' && (wanted === undefined || o.id === wanted || o.label === name), ctx.sender);
  const streams = removed.flatMap((o) => (o.type === 'stream' ? [o.label] : []));
  await ctx.reply(streams.length > 0 ? `Stopping the stream${streams.length > 1 ? 's' : ''} to ${streams.join(', ')}.` : name ? `Nothing is streamed to ${name} here.` : 'Nothing is streamed from this room.');
}

/** A typed URL's key must not stay in the room: redact the command, or at least say so once per user. */
async function keepKeyOutOfTheRoom(ctx: CommandContext, warned: Set<string>): Promise<void> {
  const redacted = await ctx.redactCommand('contained a stream key').then(
    () => true,
    (err: unknown) => {
      ctx.log.info({ err }, 'could not redact a command that contained a stream key');
      return false;
    },
  );
  if (redacted || warned.has(ctx.sender)) return;
  warned.add(ctx.sender);
  await ctx.reply(
    `${ctx.sender}: your command contains a stream key that everyone in this room can read, and I may not redact it. ` +
      'Ask an admin to configure a named destination (streaming.destinations) and type its name instead.',
  );
}

/** The form of an argument that may be logged: a destination URL with its secrets masked (and scrubbed everywhere). */
function maskTyped(arg: string): string {
  // A name, `audio`, `stop`: nothing to hide.
  if (!isUrlLike(arg)) return arg;
  let destination;
  try {
    destination = parseDestination(arg);
  } catch (err) {
    // A URL that does not parse may still hold a key: none of it is logged.
    return `[a destination URL that does not parse: ${(err as Error).name}]`;
  }
  for (const secret of destination.secrets) registerSecret(secret);
  return maskSecrets(arg, destination);
}
