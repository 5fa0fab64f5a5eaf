// `npm test`: makes sure the local stack is installed and running (first use installs it),
// then runs every test (unit and integration against the real stack) and prints a summary
// whose last line is `N passed, N failed, N skipped`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureStack } from './stack/stack.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();

console.log('[test] preparing the local stack (Synapse, LiveKit, authorizers, Redis; installed on first use)');
await ensureStack();
console.log(`[test] stack ready after ${((Date.now() - started) / 1000).toFixed(1)} s; running tests`);

const report = join(mkdtempSync(join(tmpdir(), 'mrr-test-')), 'report.json');
const vitest = spawnSync(
  process.execPath,
  [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);

interface JsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: Array<{ status: string; assertionResults: Array<{ status: string }> }>;
}
let summary: JsonReport | undefined;
try {
  summary = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
} catch {
  console.error('[test] vitest wrote no report; counting the run as failed');
}
const passed = summary?.numPassedTests ?? 0;
// A file that fails to load (or in a hook) has no failed test of its own; count it so it cannot pass silently.
const brokenFiles = summary?.testResults.filter((f) => f.status === 'failed' && !f.assertionResults.some((t) => t.status === 'failed')).length ?? 0;
const failed = summary ? summary.numFailedTests + brokenFiles : 1;
const skipped = (summary?.numPendingTests ?? 0) + (summary?.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(vitest.status === 0 && failed === 0 ? 0 : 1);
