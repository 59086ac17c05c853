// Runs every vitest suite and ends with the one plain line CI reads: `N passed, N failed, N skipped`.
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';

mkdirSync('test-artifacts', { recursive: true });
const report = 'test-artifacts/vitest-report.json';
const run = spawnSync(
  process.execPath,
  [
    'node_modules/vitest/vitest.mjs',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
let summary = 'tests did not report';
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
  // A file that failed without a failed test (an import error, a crash in a hook) has no test to count: name it.
  const broken = (r.testResults ?? []).filter(
    (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
  );
  if (broken.length)
    summary += ` (${broken.length} file${broken.length > 1 ? 's' : ''} failed to run: ${broken.map((f) => f.name).join(', ')})`;
} catch {
  // vitest crashed before writing its report: the exit code below says so.
}
console.log(summary);
process.exit(run.status ?? 1);
