import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { oggOpusDurationMs } from './ogg-duration.ts';

// ffmpeg makes a 3.5 s file; the duration comes from the container, also when its tail is torn off.
describe('oggOpusDurationMs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mrr-ogg-'));
  const path = join(dir, 'tone.ogg');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=3.5', '-c:a', 'libopus', '-page_duration', '1000000', path]);

  it('reads the length of a complete file', async () => {
    expect(Math.abs((await oggOpusDurationMs(path)) - 3500)).toBeLessThanOrEqual(20);
  });

  it('reads the last complete page of a file cut mid-page, as a crash leaves it', async () => {
    const bytes = readFileSync(path);
    const torn = join(dir, 'torn.ogg');
    writeFileSync(torn, bytes.subarray(0, bytes.length - 200));
    const ms = await oggOpusDurationMs(torn);
    expect(ms).toBeGreaterThan(1500);
    expect(ms).toBeLessThan(3500);
  });

  it('refuses a file that is not Ogg Opus', async () => {
    const other = join(dir, 'other.ogg');
    writeFileSync(other, 'not an ogg file');
    await expect(oggOpusDurationMs(other)).rejects.toThrow(/not an Ogg Opus file/);
  });
});
