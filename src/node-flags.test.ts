// Every way the recorder is started passes the same Node options (src/node-flags.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RECORDER_ENV, RECORDER_NODE_FLAGS } from './node-flags.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the recorder process options', () => {
  it('are given by the Docker entrypoint before the CLI', () => {
    const entrypoint = readFileSync(`${root}/Dockerfile`, 'utf8').split('\n').find((l) => l.startsWith('ENTRYPOINT '));
    const args = JSON.parse(entrypoint!.slice('ENTRYPOINT '.length)) as string[];
    expect(args.slice(args.indexOf('node') + 1, args.indexOf('/app/bin/matrixrtc-recorder.js'))).toEqual(RECORDER_NODE_FLAGS);
  });

  it('are given by npm start before the CLI', () => {
    const start = (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
    const env = Object.entries(RECORDER_ENV).map(([name, value]) => `${name}=${value}`);
    expect(start).toBe(`${env.join(' ')} bash scripts/node.sh ${RECORDER_NODE_FLAGS.join(' ')} src/cli.ts all`);
  });

  it('the environment is set by the Docker image', () => {
    const lines = readFileSync(`${root}/Dockerfile`, 'utf8').split('\n');
    const finalStage = lines.slice(lines.findLastIndex((l) => l.startsWith('FROM ')));
    const set = finalStage.filter((l) => l.startsWith('ENV ')).flatMap((l) => l.slice(4).trim().split(/\s+/));
    for (const [name, value] of Object.entries(RECORDER_ENV)) expect(set).toContain(`${name}=${value}`);
  });
});
