// The destination lifecycle with fake timers and a fake ffmpeg: what it emits and when it retries.
// (The real ingests, and real ffmpeg failures, are in test/integration/live-stream.int.test.ts.)
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDestination } from './destination.ts';
import { DestinationRelay, type RetryPolicy, type StreamEvent } from './destination-relay.ts';
import type { FlvTag } from './flv.ts';
import type { StreamProcess, StreamProcessExit, StreamProcessOptions } from './stream-process.ts';

const POLICY: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 8_000, giveUpAfterMs: 60_000, stallTimeoutMs: 10_000 };

class FakeFfmpeg implements StreamProcess {
  readonly pid = 4242;
  written = 0;
  killed = false;
  ended = false;
  #exit!: (exit: StreamProcessExit) => void;
  readonly exited = new Promise<StreamProcessExit>((resolve) => (this.#exit = resolve));
  readonly opts: StreamProcessOptions;
  constructor(opts: StreamProcessOptions) {
    this.opts = opts;
  }
  write(chunk: Uint8Array) {
    this.written += chunk.length;
    return true;
  }
  pending = () => 0;
  end() {
    this.ended = true;
    this.exit(0, []);
  }
  kill() {
    this.killed = true;
    this.exit(null, [], 'SIGKILL');
  }
  progress(totalSize: number, outTimeUs: number) {
    this.opts.onStdout!(Buffer.from(`total_size=${totalSize}\nout_time_us=${outTimeUs}\nprogress=continue\n`));
  }
  exit(code: number | null, stderr: string[], signal: NodeJS.Signals | null = null) {
    this.#exit({ code, signal, stderr: stderr.map(this.opts.mask) });
  }
}

const KEY = 'key_0123456789abcdef';
const tag = (keyframe = true): FlvTag => ({ type: 8, timestamp: 0, bytes: new Uint8Array(100), config: false, keyframe });

function setup(policy = POLICY) {
  const processes: FakeFfmpeg[] = [];
  const events: StreamEvent[] = [];
  const relay = new DestinationRelay({
    destination: parseDestination(`rtmp://ingest.example/live/${KEY}`, { name: 'yt' }),
    source: { preamble: () => [new Uint8Array(13)] },
    policy,
    ffmpegPath: 'ffmpeg',
    log: pino({ level: 'silent' }),
    onEvent: (e) => events.push(e),
    spawn: (opts) => {
      const p = new FakeFfmpeg(opts);
      processes.push(p);
      return p;
    },
  });
  const current = () => processes.at(-1)!;
  /** Lets promise callbacks (process exits) run. */
  const settle = () => vi.advanceTimersByTimeAsync(0);
  return { relay, processes, events, current, settle };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('DestinationRelay', () => {
  it('goes live when ffmpeg reports output, and feeds the preamble before the first keyframe', async () => {
    const { relay, events, current } = setup();
    relay.start();
    expect(relay.state).toEqual({ phase: 'connecting', attempt: 1 });
    relay.feed(tag(false));
    expect(current().written).toBe(0); // nothing before a keyframe
    relay.feed(tag(true));
    expect(current().written).toBe(13 + 100);
    expect(relay.status().dropped).toEqual({ tags: 1, bytes: 100 });
    current().progress(5_000, 500_000);
    expect(relay.state.phase).toBe('live');
    expect(events).toEqual([{ type: 'live', name: 'yt', printable: 'rtmp://ingest.example/live/••••' }]);
  });

  it('fails at once, with the sentence and without the key, when the first attempt is refused', async () => {
    const { relay, events, current, settle, processes } = setup();
    relay.start();
    current().exit(1, [`rtmp://ingest.example/live/${KEY}: Input/output error`]);
    await settle();
    expect(events).toEqual([
      {
        type: 'failed',
        name: 'yt',
        printable: 'rtmp://ingest.example/live/••••',
        reason: 'rtmp://ingest.example/live/•••• refused the stream: the ingest did not accept the stream key.',
        gaveUp: false,
      },
    ]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(processes).toHaveLength(1);
  });

  it('after being live: down once, retries with doubling delays, back once', async () => {
    const { relay, events, current, settle, processes } = setup();
    relay.start();
    current().progress(5_000, 500_000);
    current().exit(1, ['av_interleaved_write_frame(): Broken pipe']);
    await settle();
    expect(events.map((e) => e.type)).toEqual(['live', 'down']);
    expect(relay.state).toMatchObject({ phase: 'retrying', attempt: 1 });
    // Attempts at +1 s, then +2 s, then +4 s after each failure.
    for (const delay of [1_000, 2_000, 4_000]) {
      const before = processes.length;
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(processes).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(processes).toHaveLength(before + 1);
      current().exit(1, ['Connection to tcp://ingest.example:1935 failed: Connection refused']);
      await settle();
    }
    expect(events.map((e) => e.type)).toEqual(['live', 'down']); // down said once
    await vi.advanceTimersByTimeAsync(8_000);
    current().progress(1_000, 100_000);
    expect(events.map((e) => e.type)).toEqual(['live', 'down', 'back']);
    expect(events[2]).toMatchObject({ type: 'back', downForMs: 15_000 });
    expect(relay.state.phase).toBe('live');
  });

  it('treats output that stops advancing as down (the stall), and kills that ffmpeg', async () => {
    const { relay, events, current, settle } = setup();
    relay.start();
    current().progress(5_000, 500_000);
    const stalled = current();
    for (let i = 0; i < 24; i++) {
      relay.feed(tag());
      await vi.advanceTimersByTimeAsync(500);
    }
    await settle();
    expect(stalled.killed).toBe(true);
    expect(events.at(-1)).toEqual({
      type: 'down',
      name: 'yt',
      printable: 'rtmp://ingest.example/live/••••',
      reason: 'rtmp://ingest.example/live/•••• stopped taking the stream: nothing left for 10 s.',
    });
  });

  it('gives up after giveUpAfterMs of trying, and says so once', async () => {
    const { relay, events, current, settle } = setup({ ...POLICY, giveUpAfterMs: 20_000 });
    relay.start();
    current().progress(5_000, 500_000);
    for (let i = 0; i < 10 && relay.state.phase !== 'failed'; i++) {
      current().exit(1, ['Connection refused']);
      await settle();
      await vi.advanceTimersByTimeAsync(8_000);
    }
    expect(events.map((e) => e.type)).toEqual(['live', 'down', 'failed']);
    expect(events.at(-1)).toMatchObject({ gaveUp: true, reason: expect.stringMatching(/nothing accepts connections there\. Given up after 2\d s of trying\.$/) });
  });

  it('drops what arrives while it is not connected, and stops cleanly', async () => {
    const { relay, current, settle } = setup();
    relay.start();
    current().progress(5_000, 500_000);
    current().exit(1, ['Broken pipe']);
    await settle();
    relay.feed(tag());
    relay.feed(tag());
    expect(relay.status().dropped).toEqual({ tags: 2, bytes: 200 });
    await vi.advanceTimersByTimeAsync(1_000);
    const last = current();
    await relay.stop();
    expect(last.ended).toBe(true);
    expect(relay.state).toEqual({ phase: 'stopped' });
  });
});
