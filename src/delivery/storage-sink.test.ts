import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDirectorySink, PartlyStoredError, renderPathTemplate, SinkSet, validatePathTemplate, type StorageSink } from './storage-sink.ts';

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
    const [stored] = await new LocalDirectorySink(root, '{room}/{session}').store([{ path: source, name: 'mixed.ogg' }], facts);
    expect(stored!.location).toBe(join(root, '_abc_.._.._etc_example.org', 'rec_1', 'mixed.ogg'));
    expect(readFileSync(stored!.location, 'utf8')).toBe('audio');
  });

  it('keeps a segment folder in the name, and refuses names that climb or hide', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mrr-sink-'));
    const source = join(mkdtempSync(join(tmpdir(), 'mrr-src-')), 'mixed.ogg');
    writeFileSync(source, 'audio');
    const sink = new LocalDirectorySink(root, '{session}');
    const [stored] = await sink.store([{ path: source, name: 'segment-0/mixed.ogg' }], facts);
    expect(stored!.location).toBe(join(root, 'rec_1', 'segment-0', 'mixed.ogg'));
    for (const name of ['../x.ogg', 'segment-0/../../x.ogg', '/abs.ogg', 'a//b.ogg', '.hidden']) {
      await expect(sink.store([{ path: source, name }], facts), name).rejects.toThrow(/not a safe archive name/);
    }
  });
});

describe('SinkSet', () => {
  it('stores in every sink and names the one that failed, keeping what the others stored', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mrr-sink-'));
    const source = join(mkdtempSync(join(tmpdir(), 'mrr-src-')), 'mixed.ogg');
    writeFileSync(source, 'audio');
    const broken: StorageSink = { name: 's3', folder: () => 's3://b/x', store: async () => Promise.reject(new Error('connection refused')) };
    const set = new SinkSet([new LocalDirectorySink(root, '{session}'), broken]);
    expect(set.folder(facts)).toBe(`${join(root, 'rec_1')} and s3://b/x`);
    const err = (await set.store([{ path: source, name: 'mixed.ogg' }], facts).catch((e: unknown) => e)) as PartlyStoredError;
    expect(err).toBeInstanceOf(PartlyStoredError);
    expect(err.message).toBe('s3: connection refused (stored in 1 of 2 sinks)');
    expect(err.stored.map((s) => s.location)).toEqual([join(root, 'rec_1', 'mixed.ogg')]);
  });
});
