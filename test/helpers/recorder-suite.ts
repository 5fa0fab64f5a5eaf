// One recorder process (`all`) for a test file on the local stack, started before its tests and
// stopped after them together with the peers the tests registered.
import { dispose } from '@livekit/rtc-node';
import { afterAll, beforeAll } from 'vitest';
import type { StackInfo } from '../stack/info.ts';
import { ChatDevice } from './chat-device.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from './recorder-process.ts';

export interface RecorderSuite {
  /** The running recorder; a test may replace it (stop it first). */
  bot: RecorderProcess;
  /** The config the bot was started with (to start it again). */
  config: Record<string, unknown>;
  outputDir: string;
  /** Peers stopped after the file's tests, whatever happened. */
  peers: Array<{ stop(): Promise<void> }>;
}

export function recorderSuite(stack: StackInfo, overrides: Record<string, Record<string, unknown>> = {}): RecorderSuite {
  const suite: RecorderSuite = { bot: undefined as unknown as RecorderProcess, config: {}, outputDir: '', peers: [] };
  beforeAll(async () => {
    const config = stackRecorderConfig(stack, overrides);
    suite.config = config;
    suite.outputDir = (config.recording as { outputDir: string }).outputDir;
    suite.bot = await startRecorder('all', config);
    await suite.bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');
  });
  afterAll(async () => {
    await Promise.all(suite.peers.map((p) => p.stop().catch(() => undefined)));
    ChatDevice.stopAll();
    await suite.bot?.stop();
    await dispose();
  });
  return suite;
}
