// What the bridge says to a caller before they join a call (a PIN prompt, "there is no call"),
// and the digits they type: speech synthesised locally and sent in real time, 10 ms a frame,
// DTMF (RFC 4733) collected until `#`.
import { splitFrames } from '../media/livekit/audio-publisher.ts';
import { synthesiseSpeech } from '../media/speech/synthesise.ts';

export interface PromptLeg {
  send(frame: Int16Array): void;
  onDtmf(listener: (digit: string) => void): () => void;
}

const FRAME_MS = 10;

/** Sends `samples` (48 kHz mono) paced at real time; resolves when the last frame has left. */
export async function playToLeg(leg: Pick<PromptLeg, 'send'>, samples: Int16Array, signal?: AbortSignal): Promise<void> {
  const frames = splitFrames(samples);
  const start = performance.now();
  for (let i = 0; i < frames.length; i++) {
    if (signal?.aborted) return;
    leg.send(frames[i]!);
    // Drift-free pacing: each frame leaves at its own time, whatever the timer's jitter.
    const wait = start + (i + 1) * FRAME_MS - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

export async function sayToLeg(leg: Pick<PromptLeg, 'send'>, text: string, language: string, signal?: AbortSignal): Promise<void> {
  await playToLeg(leg, await synthesiseSpeech(text, { language }), signal);
}

/**
 * Digits typed until `#` (not included), or undefined when nothing complete came within
 * `timeoutMs` of the last key (or the start). `*` clears what was typed.
 */
export function collectDigits(leg: Pick<PromptLeg, 'onDtmf'>, timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    let digits = '';
    let timer = setTimeout(() => finish(undefined), timeoutMs);
    const stop = leg.onDtmf((digit) => {
      if (digit === '#') return finish(digits);
      digits = digit === '*' ? '' : digits + digit;
      clearTimeout(timer);
      timer = setTimeout(() => finish(undefined), timeoutMs);
    });
    const onAbort = () => finish(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    function finish(result: string | undefined) {
      clearTimeout(timer);
      stop();
      signal?.removeEventListener('abort', onAbort);
      resolve(result);
    }
  });
}
