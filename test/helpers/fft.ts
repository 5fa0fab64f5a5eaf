// Spectral checks on mono PCM: which frequency dominates, and how far a tone stands above the rest.

function fftMagnitudes(samples: ArrayLike<number>, size: number): Float64Array {
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  // Hann window against leakage between neighbouring bins.
  for (let i = 0; i < size; i++) re[i] = (samples[i] ?? 0) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (size - 1)));
  for (let i = 1, j = 0; i < size; i++) {
    let bit = size >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= size; len <<= 1) {
    const angle = (-2 * Math.PI) / len;
    for (let i = 0; i < size; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(angle * k);
        const wi = Math.sin(angle * k);
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * wr - im[b]! * wi;
        const ti = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
      }
    }
  }
  const power = new Float64Array(size / 2);
  for (let i = 0; i < size / 2; i++) power[i] = re[i]! ** 2 + im[i]! ** 2;
  return power;
}

/** Share of the power (DC excluded) between `lowHz` and `highHz`: speech sits mostly in 300-3400 Hz. */
export function bandShare(samples: ArrayLike<number>, sampleRate: number, lowHz: number, highHz: number): number {
  const size = windowSize(samples.length);
  const power = fftMagnitudes(samples, size);
  const binHz = sampleRate / size;
  let band = 0;
  let all = 1e-12;
  for (let i = 1; i < power.length; i++) {
    all += power[i]!;
    if (i * binHz >= lowHz && i * binHz <= highHz) band += power[i]!;
  }
  return band / all;
}

const windowSize = (n: number) => 2 ** Math.floor(Math.log2(Math.max(2, Math.min(n, 1 << 17))));

/** The strongest frequency (Hz) in the samples, refined by parabolic interpolation; DC ignored. */
export function dominantFrequency(samples: ArrayLike<number>, sampleRate: number): number {
  const size = windowSize(samples.length);
  const power = fftMagnitudes(samples, size);
  let peak = 1;
  for (let i = 2; i < power.length; i++) if (power[i]! > power[peak]!) peak = i;
  const [a, b, c] = [Math.sqrt(power[peak - 1]!), Math.sqrt(power[peak]!), Math.sqrt(power[peak + 1] ?? 0)];
  const shift = a - 2 * b + c === 0 ? 0 : (0.5 * (a - c)) / (a - 2 * b + c);
  return ((peak + shift) * sampleRate) / size;
}

/** Power within ±20 Hz of `frequency` against all other power (DC excluded), in dB. */
export function toneSnrDb(samples: ArrayLike<number>, sampleRate: number, frequency: number): number {
  const size = windowSize(samples.length);
  const power = fftMagnitudes(samples, size);
  const binHz = sampleRate / size;
  let tone = 0;
  let rest = 1e-12;
  for (let i = 1; i < power.length; i++) {
    if (Math.abs(i * binHz - frequency) <= 20) tone += power[i]!;
    else rest += power[i]!;
  }
  return 10 * Math.log10(tone / rest);
}

export function rms(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! ** 2;
  return Math.sqrt(sum / Math.max(1, samples.length));
}
