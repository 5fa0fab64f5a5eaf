// The Docker image must start: the CLI runs with exactly the environment the Dockerfile sets
// (plus the two keys every deployment must give), and the config loader accepts it.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** `ENV A=1 B=2` lines of the Dockerfile's final stage, as a map. */
function dockerfileEnv(): Record<string, string> {
  const dockerfile = readFileSync(`${root}/Dockerfile`, 'utf8');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const pair of line.slice(4).trim().split(/\s+/)) {
      const [name, ...value] = pair.split('=');
      env[name!] = value.join('=');
    }
  }
  return env;
}

describe('the Docker image environment', () => {
  it('is accepted by the CLI as the Dockerfile sets it', () => {
    const env = dockerfileEnv();
    expect(env.MRR_CONFIG).toBe('/data/config.yaml');
    const result = spawnSync(process.execPath, [`${root}/src/cli.ts`, 'validate-config'], {
      env: { PATH: process.env.PATH, ...env, MRR_HOMESERVER__URL: 'https://matrix.example.org', MRR_HOMESERVER__DOMAIN: 'example.org' },
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout).encryption.storeDir).toBe('/data/crypto');
  });
});
