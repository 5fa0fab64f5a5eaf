// Property-based fuzzing of what room members type: message events in any shape, any text, and
// whatever parses as a command dispatched through the real command specs. Nothing may throw
// except a CommandError whose sentence names what was wrong.
import { TypedDestinationGuard } from '../../outputs/stream/destination-guard.ts';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { CommandError } from '../../errors.ts';
import type { SessionControl } from './sessions.ts';
import { helpCommand } from './help.ts';
import { parseCommandEvent, parseCommandText } from './parse.ts';
import { recordCommand } from './record.ts';
import { CommandRegistry } from './registry.ts';
import { statusCommand } from './status.ts';
import { stopCommand } from './stop.ts';
import { streamCommand } from './stream.ts';

export const FUZZ_RUNS = 10_000;

/** Text that looks like commands often: known words, prefixes, quoting, whitespace of every kind. */
const commandish = fc
  .array(
    fc.oneof(
      fc.constantFrom('!', '!!', '> ', '\n', ' ', '\t', '\u00a0', '\u2028', '\r\n', '＼', '!record', '!RECORD', '!stop', '!stream', '!status', '!help', '!pause', 'audio', 'video', 'stop', 'transcript', 'hls', 'rtmp://a.example/live/KEY', 'srt://h:1?streamid=x', 'hls:/tmp/x', '\u0000', '🎙️'),
      fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 6 }),
    ),
    { maxLength: 10 },
  )
  .map((parts) => parts.join(''));

const sessions: SessionControl = {
  start: async () => ({ started: true, jobId: 'job' }),
  stop: async () => null,
  status: async () => null,
  addOutput: async () => ({ outcome: 'started', jobId: 'job' }),
  removeOutputs: async () => [],
  outputs: async () => [],
};

function registry() {
  const config = parseConfig({
    homeserver: { url: 'https://matrix.example.org', domain: 'example.org' },
    streaming: { destinations: { youtube: { url: 'rtmp://a.rtmp.youtube.com/live2/SECRETKEY', kind: 'video' } } },
  });
  const r = new CommandRegistry(50);
  r.add(helpCommand(() => r.list(), 50), recordCommand(sessions, 'audio'), stopCommand(sessions), streamCommand({ sessions, streaming: config.streaming, asToken: 'as-token', typedGuard: new TypedDestinationGuard(['*'], async () => ['93.184.216.34']) }), statusCommand(sessions));
  return r;
}

describe('fuzzing command text', () => {
  it(`parseCommandText never throws and yields clean names and arguments (${FUZZ_RUNS} cases)`, () => {
    fc.assert(
      fc.property(fc.oneof(commandish, fc.string({ unit: 'binary' })), (body) => {
        const parsed = parseCommandText(body);
        if (parsed === null) return;
        expect(parsed.name.length).toBeGreaterThan(0);
        expect(parsed.name).toBe(parsed.name.toLowerCase());
        expect(parsed.name).not.toMatch(/\s/);
        for (const arg of parsed.args) expect(arg).toMatch(/^\S+$/);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it(`parseCommandEvent takes any event shape off the wire without throwing (${FUZZ_RUNS} cases)`, () => {
    const content = fc.oneof(
      fc.anything(),
      fc.record(
        {
          msgtype: fc.oneof(fc.constant('m.text'), fc.constant('m.notice'), fc.anything()),
          body: fc.oneof(commandish, fc.anything()),
          'm.relates_to': fc.oneof(fc.anything(), fc.record({ rel_type: fc.oneof(fc.constant('m.replace'), fc.anything()) })),
          'm.new_content': fc.anything(),
        },
        { requiredKeys: ['msgtype', 'body'] },
      ),
    );
    const event = fc.record(
      { type: fc.oneof(fc.constant('m.room.message'), fc.string()), sender: fc.oneof(fc.constant('@bot:hs'), fc.string()), content },
      { requiredKeys: ['type', 'sender'] },
    );
    fc.assert(
      fc.property(event, (e) => {
        const parsed = parseCommandEvent(e as never, new Set(['@bot:hs']));
        if (parsed) expect(parsed.name.length).toBeGreaterThan(0);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it(`dispatching anything typed through the real commands runs or says what was wrong (${FUZZ_RUNS} cases)`, async () => {
    const commands = registry();
    const log = pino({ level: 'silent' });
    await fc.assert(
      fc.asyncProperty(commandish, fc.integer({ min: -10, max: 150 }), async (body, level) => {
        const parsed = parseCommandText(`!${body}`) ?? parseCommandText(body);
        if (!parsed) return;
        // Logging a command's arguments goes through the spec's masking: it must take any words.
        expect(Array.isArray(commands.loggableArgs(parsed))).toBe(true);
        const replies: string[] = [];
        try {
          await commands.dispatch(parsed, {
            roomId: '!room:hs',
            sender: '@alice:hs',
            eventId: '$event',
            log,
            reply: async (text) => void replies.push(text),
            senderPowerLevel: async () => level,
            redactCommand: async () => undefined,
          });
          for (const reply of replies) expect(reply.trim().length).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(CommandError);
          const message = (err as CommandError).userMessage ?? '';
          expect(message.trim().length).toBeGreaterThan(0);
          // It names the command or the usage it broke, or the power level it lacks.
          expect(message).toMatch(/Unknown command !|Usage: !|needs power level|stream|destination|URL|hls/i);
        }
      }),
      { numRuns: FUZZ_RUNS },
    );
  }, 60_000);
});
