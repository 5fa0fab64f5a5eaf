import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../src/config/load.ts';
import { generatedFiles } from './gen-docs.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('generated documentation', () => {
  it.each(Object.entries(generatedFiles()))('%s is up to date (npm run docs)', (file, text) => {
    expect(readFileSync(`${root}${file}`, 'utf8')).toBe(text);
  });

  it('the sample config is itself a valid config', () => {
    expect(() => parseConfig(parse(generatedFiles()['config/config.sample.yaml']!))).not.toThrow();
  });
});
