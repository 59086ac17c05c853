import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A real small tmpfs (full disk) or read-only mount for the error tests: no fault-injection seam, the kernel's own
 * ENOSPC and EROFS. Needs root and `mount` (Linux); elsewhere `reason` says why the tests skip.
 */
export interface TestMount {
  dir: string;
  unmount(): void;
}

function canMount(): string | undefined {
  if (process.platform !== 'linux') return 'skipped: tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'skipped: tmpfs mounts need root';
  const probe = mkdtempSync(path.join(tmpdir(), 'mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `skipped: mount -t tmpfs failed here (${(e as Error).message.split('\n')[0]})`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

let cached: string | undefined | null = null;
/** Why tmpfs tests cannot run here, or undefined when they can. */
export function noMount(): string | undefined {
  if (cached === null) {
    cached = canMount();
    if (cached) console.warn(cached);
  }
  return cached;
}

/** Mount a tmpfs of `sizeKiB` (options: 'ro' for read-only) on a fresh folder. */
export function mountTmpfs(sizeKiB: number, readOnly = false): TestMount {
  const dir = mkdtempSync(path.join(tmpdir(), readOnly ? 'ro-fs-' : 'full-fs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k${readOnly ? ',ro' : ''}`, 'tmpfs', dir], { stdio: 'pipe' });
  return {
    dir,
    unmount() {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
