import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CommandError } from '../../errors.ts';
import type { AddOutputResult, StartResult, SessionStatus } from '../../jobs/producer.ts';
import { helpCommand } from './help.ts';
import { recordCommand } from './record.ts';
import { CommandRegistry } from './registry.ts';
import type { SessionControl } from './sessions.ts';
import { statusCommand } from './status.ts';
import { stopCommand } from './stop.ts';

function setup(level: number, running: SessionStatus | null = null) {
  const started: unknown[] = [];
  const sessions: SessionControl = {
    async start(data): Promise<StartResult> {
      started.push(data);
      return running ? { started: false, running } : { started: true, jobId: 'rec_1' };
    },
    async stop() {
      return running;
    },
    async status() {
      return running;
    },
    async addOutput(data): Promise<AddOutputResult> {
      started.push(data);
      return running ? { outcome: 'exists', running } : { outcome: 'started', jobId: 'rec_1' };
    },
    async removeOutputs() {
      return [];
    },
    async outputs() {
      return [];
    },
  };
  const registry = new CommandRegistry(50);
  registry.add(helpCommand(() => registry.list(), 50), recordCommand(sessions, 'audio'), stopCommand(sessions), statusCommand(sessions));
  const replies: string[] = [];
  const ctx = {
    roomId: '!room:hs',
    sender: '@alice:hs',
    eventId: '$cmd',
    log: pino({ level: 'silent' }),
    reply: async (text: string) => void replies.push(text),
    senderPowerLevel: async () => level,
    redactCommand: async () => undefined,
  };
  return { registry, ctx, replies, started };
}

const running: SessionStatus = {
  jobId: 'rec_0',
  state: 'active',
  data: { version: 1, roomId: '!room:hs', requestedBy: '@bob:hs', requestEventId: '$e', kind: 'audio', requestedAt: 0 },
  progress: { phase: 'in-call', joinedAt: Date.now() - 65_000, participants: ['@carol:hs'] },
};

describe('command registry', () => {
  it('refuses privileged commands below the power level, saying what is needed', async () => {
    const { registry, ctx, started } = setup(0);
    const refusal = registry.dispatch({ name: 'record', args: [] }, ctx);
    await expect(refusal).rejects.toBeInstanceOf(CommandError);
    await expect(refusal).rejects.toThrow('!record needs power level 50 in this room; @alice:hs has 0.');
    expect(started).toEqual([]);
  });

  it('queues a recording with the chosen kind', async () => {
    const { registry, ctx, replies, started } = setup(50);
    await registry.dispatch({ name: 'record', args: ['VIDEO'] }, ctx);
    expect(started).toMatchObject([{ roomId: '!room:hs', requestedBy: '@alice:hs', requestEventId: '$cmd', kind: 'video' }]);
    expect(replies[0]).toMatch(/asked me to record this call \(video\)/);
  });

  it('answers a second !record with the running session', async () => {
    const { registry, ctx, replies } = setup(100, running);
    await registry.dispatch({ name: 'record', args: [] }, ctx);
    expect(replies[0]).toBe('Already recording here. A session requested by @bob:hs is in the call for 1m05s; in the call now: @carol:hs.');
  });

  it('gives the usage line for wrong arguments and a hint for unknown commands', async () => {
    const { registry, ctx } = setup(100);
    await expect(registry.dispatch({ name: 'record', args: ['mp3'] }, ctx)).rejects.toThrow('Usage: !record [audio|video]');
    await expect(registry.dispatch({ name: 'stop', args: ['now'] }, ctx)).rejects.toThrow('Usage: !stop');
    await expect(registry.dispatch({ name: 'recrod', args: [] }, ctx)).rejects.toThrow('Unknown command !recrod. Type !help');
  });

  it('lets anyone read !status and !help', async () => {
    const { registry, ctx, replies } = setup(0);
    await registry.dispatch({ name: 'status', args: [] }, ctx);
    await registry.dispatch({ name: 'help', args: [] }, ctx);
    expect(replies[0]).toBe('Nothing is being recorded in this room.');
    expect(replies[1]).toContain('!record [audio|video] [transcript]: Join the call in this room and record it (beside any streams already running); `transcript`: also transcribe each speaker when it ends. (power level 50)');
  });

  it('rejects duplicate command names', () => {
    const { registry } = setup(0);
    expect(() => registry.add(helpCommand(() => [], 50))).toThrow('duplicate command help');
  });
});
