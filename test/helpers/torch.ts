import { execFileSync, spawnSync } from 'node:child_process';

/** Debian's python3 with torch (installed by .ci/run); the reason to skip when it is not there. */
export const PYTHON = '/usr/bin/python3';

export function missingTorch(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  const reason = `skipped: needs PyTorch in ${PYTHON} (apt-get install python3-torch; .ci/run installs it)`;
  console.warn(reason);
  return reason;
}

export function runPython(script: string, args: string[]): string {
  return execFileSync(PYTHON, [script, ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
}
