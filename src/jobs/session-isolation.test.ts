// A real Node process with two "sessions": one throws from a timer and leaves a rejected promise
// unhandled, the other must still run to its end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const isolation = fileURLToPath(new URL('./session-isolation.ts', import.meta.url));

function runTwoSessions(isolated: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'mrr-isolation-'));
  const script = join(dir, 'worker.mjs');
  writeFileSync(
    script,
    `import { keepSessionsApart } from ${JSON.stringify(isolation)};
const log = { error: (fields, msg) => console.log('logged: ' + msg + ' (' + (fields.err?.message ?? fields.err) + ')') };
if (${isolated}) keepSessionsApart(log);
// Session A fails in ways nobody catches.
setTimeout(() => Promise.reject(new Error('session A: a promise nobody awaited')), 20);
setTimeout(() => { throw new Error('session B: a throw in a listener'); }, 40);
// Session C records on and ends normally.
setTimeout(() => console.log('session C finished'), 200);
`,
  );
  return spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
}

describe('keepSessionsApart', () => {
  it("lets the worker's other sessions run on after an error nobody caught, and logs it", () => {
    const run = runTwoSessions(true);
    expect(run.stdout).toContain('logged: an error nobody handled (a rejected promise); the other sessions go on (session A: a promise nobody awaited)');
    expect(run.stdout).toContain('logged: an error nobody caught; the other sessions go on (session B: a throw in a listener)');
    expect(run.stdout).toContain('session C finished');
    expect(run.status).toBe(0);
  });

  it('(without it, Node ends the process and the other session with it)', () => {
    const run = runTwoSessions(false);
    expect(run.stdout).not.toContain('session C finished');
    expect(run.status).not.toBe(0);
  });
});
