// A caller's audio before they are in the call (the PIN prompt, joining) is heard by nobody: it
// is read and let go, so the SIP leg's bounded receive queue does not overflow and report drops
// that were never audio for the call. Once the bridge iterates, frames flow to it as they come.

export interface FrameTap {
  frames: AsyncIterable<Int16Array>;
  /** Frames read before anyone listened (not drops: nobody was to hear them). */
  discarded(): number;
}

export function tapFrames(source: AsyncIterable<Int16Array>): FrameTap {
  const waiting: Int16Array[] = [];
  let listening = false;
  let ended = false;
  let discarded = 0;
  let wake: (() => void) | undefined;
  void (async () => {
    for await (const frame of source) {
      if (!listening) discarded++;
      else waiting.push(frame);
      wake?.();
    }
    ended = true;
    wake?.();
  })();
  return {
    discarded: () => discarded,
    frames: {
      async *[Symbol.asyncIterator]() {
        listening = true;
        for (;;) {
          const frame = waiting.shift();
          if (frame) {
            yield frame;
            continue;
          }
          if (ended) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
    },
  };
}
