import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { CommandError } from '../errors.ts';
import type { OutputRecord } from './outputs.ts';
import { SessionQuotas, type QueueView } from './quotas.ts';

const limits = { maxOutputsPerRoom: 2, maxSessionsPerUser: 1, sessionsPerWorker: 2 };
const view = (busy: number, workers: number): QueueView => ({ isRunning: async () => true, load: async () => ({ busy, workers }) });
// These checks read only their arguments and the queue view; Redis is not touched.
const quotas = (queue: QueueView) => new SessionQuotas({} as Redis, 'mrr', limits, queue);
const output = (id: string): OutputRecord => ({ id, type: 'recording', kind: 'audio', requestedBy: '@a:hs', requestEventId: '$e', at: 0 }) as OutputRecord;

describe('SessionQuotas', () => {
  it("refuses a room's output beyond the cap, in a sentence naming the setting", () => {
    expect(() => quotas(view(0, 1)).checkRoomOutputs([output('recording')])).not.toThrow();
    const err = (() => {
      try {
        quotas(view(0, 1)).checkRoomOutputs([output('recording'), output('stream:a')]);
      } catch (e) {
        return e;
      }
    })() as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.userMessage).toMatch(/already has 2 outputs running \(its recording and live streams\).*limits\.maxOutputsPerRoom is 2/);
  });

  it('says when every worker is busy, and when none runs', async () => {
    expect(await quotas(view(3, 2)).waitingForWorker()).toBeUndefined();
    expect(await quotas(view(4, 2)).waitingForWorker()).toMatch(/^All 2 recorder workers are busy \(4 sessions; jobs\.concurrency is 2 per worker\)/);
    expect(await quotas(view(0, 0)).waitingForWorker()).toMatch(/^No recorder worker is running right now/);
  });
});
