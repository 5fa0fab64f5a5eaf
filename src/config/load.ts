import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { configSchema, type Config } from './schema.ts';
import { schemaKeys } from './schema-keys.ts';

export const ENV_PREFIX = 'MRR_';

/**
 * Loads the YAML config, applies environment overrides and validates the result.
 * Environment: `MRR_SECTION__KEY=value` sets `section.key` (names matched case-insensitively,
 * `_` ignored); `MRR_SECTION__KEY_FILE=/path` reads the value from a file (container secrets).
 * An unknown key, in the file or the environment, stops the start with its path.
 */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: unknown = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError('', `cannot read config file ${path}: ${(err as Error).message}`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError('', `config file ${path} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('', `config file ${path} must hold a mapping`);
  }
  const merged = applyEnvOverrides(raw as Record<string, unknown>, env);
  const config = parseConfig(merged);
  if (path) config.appservice.registrationFile = resolve(dirname(path), config.appservice.registrationFile);
  return config;
}

export function parseConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ConfigError(issuePath(issue), describeIssue(issue));
}

function issuePath(issue: z.core.$ZodIssue): string {
  const base = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return [base, issue.keys[0]].filter(Boolean).join('.');
  return base;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return 'unknown key';
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return `required (${issue.expected})`;
  return issue.message.replace(/^Invalid input: /, '');
}

const normalise = (name: string) => name.replace(/_/g, '').toLowerCase();

/** Environment variables of ours that name no key: MRR_CONFIG is the config file's path (the Docker image sets it). */
const NOT_CONFIG_KEYS = new Set([`${ENV_PREFIX}CONFIG`]);

function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const keys = schemaKeys();
  const out = structuredClone(raw);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || NOT_CONFIG_KEYS.has(name)) continue;
    const fromFile = name.endsWith('_FILE');
    const dotted = name.slice(ENV_PREFIX.length, fromFile ? -'_FILE'.length : undefined);
    const wanted = dotted.split('__').map(normalise).join('.');
    const match = keys.find((k) => k.path.split('.').map(normalise).join('.') === wanted);
    if (!match) throw new ConfigError(name, 'environment variable names no config key');
    let text = value;
    if (fromFile) {
      try {
        text = readFileSync(value, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(match.path, `cannot read ${name}: ${(err as Error).message}`);
      }
    }
    setPath(out, match.path.split('.'), match.type === 'string' ? text : parseYaml(text));
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}
