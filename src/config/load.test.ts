import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { loadConfig, parseConfig } from './load.ts';
import { schemaKeys } from './schema-keys.ts';

const minimal = { homeserver: { url: 'http://127.0.0.1:8008', domain: 'localhost' } };

function writeConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mrr-config-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, text);
  return path;
}

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills every default from a minimal config', () => {
    const config = parseConfig(minimal);
    expect(config.appservice.port).toBe(9000);
    expect(config.permissions.minPowerLevel).toBe(50);
    expect(config.redis.prefix).toBe('mrr');
  });

  it('names the key of a wrong type', () => {
    const err = configErrorOf(() => parseConfig({ ...minimal, appservice: { port: 'nine' } }));
    expect(err.path).toBe('appservice.port');
    expect(err.message).toMatch(/^appservice\.port: expected number/);
  });

  it('names an unknown key, nested or at the top', () => {
    expect(configErrorOf(() => parseConfig({ ...minimal, bot: { locapart: 'x' } })).path).toBe('bot.locapart');
    expect(configErrorOf(() => parseConfig({ ...minimal, extra: 1 })).path).toBe('extra');
  });

  it('names a missing required key', () => {
    const err = configErrorOf(() => parseConfig({ homeserver: { url: 'http://x' } }));
    expect(err.message).toBe('homeserver.domain: required (string)');
  });

  it('applies environment overrides, typed by the schema, and _FILE secrets', () => {
    const path = writeConfig('homeserver: {url: "http://127.0.0.1:8008", domain: localhost}\n');
    const secretFile = join(mkdtempSync(join(tmpdir(), 'mrr-secret-')), 'redis-url');
    writeFileSync(secretFile, 'redis://:pw@redis:6379\n');
    const config = loadConfig(path, {
      MRR_APPSERVICE__PORT: '9100',
      MRR_LOGGING__PRETTY: 'true',
      MRR_APPSERVICE__BIND_ADDRESS: '0.0.0.0',
      MRR_REDIS__URL_FILE: secretFile,
    });
    expect(config.appservice.port).toBe(9100);
    expect(config.logging.pretty).toBe(true);
    expect(config.appservice.bindAddress).toBe('0.0.0.0');
    expect(config.redis.url).toBe('redis://:pw@redis:6379');
  });

  it('rejects an environment variable that names no key', () => {
    const path = writeConfig('homeserver: {url: "http://127.0.0.1:8008", domain: localhost}\n');
    expect(configErrorOf(() => loadConfig(path, { MRR_APPSERVICE__PROT: '1' })).path).toBe('MRR_APPSERVICE__PROT');
  });

  it('resolves the registration path from the config file directory', () => {
    const path = writeConfig('homeserver: {url: "http://127.0.0.1:8008", domain: localhost}\n');
    expect(loadConfig(path, {}).appservice.registrationFile).toBe(join(path, '..', 'registration.yaml'));
  });

  it('documents every key', () => {
    for (const key of schemaKeys()) expect(key.description.length, key.path).toBeGreaterThan(10);
    expect(schemaKeys().filter((k) => k.secret).map((k) => k.path)).toContain('redis.url');
  });
});
