import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDirectorySink, renderPathTemplate, validatePathTemplate } from './storage-sink.ts';

const facts = { roomId: '!abc/../../etc:example.org', sessionId: 'rec_1', startedAt: Date.UTC(2026, 10, 24, 9, 5, 7) };

describe('path templates', () => {
  it('renders dates in UTC and keeps values inside their segment', () => {
    expect(renderPathTemplate('{year}/{month}/{room}/{date}_{time}_{session}', facts)).toBe(
      '2026/11/_abc_.._.._etc_example.org/2026-11-24_090507_rec_1',
    );
  });

  it('refuses absolute paths, dot segments and unknown placeholders', () => {
    expect(() => validatePathTemplate('/abs/{room}')).toThrow(/relative/);
    expect(() => validatePathTemplate('a/../{room}')).toThrow(/relative/);
    expect(() => validatePathTemplate('{rooom}')).toThrow(/unknown placeholder \{rooom\}/);
  });

  it('a value made only of dots cannot climb out', () => {
    expect(renderPathTemplate('{room}', { ...facts, roomId: '..' })).toBe('__');
  });
});

describe('LocalDirectorySink', () => {
  it('copies the files under the rendered path', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mrr-sink-'));
    const source = join(mkdtempSync(join(tmpdir(), 'mrr-src-')), 'mixed.ogg');
    writeFileSync(source, 'audio');
    const [stored] = await new LocalDirectorySink(root, '{room}/{session}').store([source], facts);
    expect(stored!.location).toBe(join(root, '_abc_.._.._etc_example.org', 'rec_1', 'mixed.ogg'));
    expect(readFileSync(stored!.location, 'utf8')).toBe('audio');
  });
});
