// Phase-continuous sine frames for test peers: 10 ms of mono s16 at 48 kHz per call (or `samples`).
export const TONE_RATE = 48_000;
export const TONE_FRAME = 480;

export function toneGenerator(frequency: number, amplitude = 0.3, samples = TONE_FRAME) {
  let phase = 0;
  const step = (2 * Math.PI * frequency) / TONE_RATE;
  return (): Int16Array => {
    const frame = new Int16Array(samples);
    for (let i = 0; i < samples; i++) {
      frame[i] = Math.round(Math.sin(phase) * amplitude * 32767);
      phase += step;
    }
    phase %= 2 * Math.PI;
    return frame;
  };
}
