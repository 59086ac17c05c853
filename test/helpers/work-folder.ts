import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * The one way a test makes temp folders for its own files (models, data, outputs): each is removed, with all it holds,
 * when its test file's tests have ended, so a test run leaves nothing in the temp folder. To look at what a failing
 * test wrote, run it with LORA_STUDIO_KEEP_TEST_FOLDERS=1: the folders are kept and their paths printed. A test that
 * must keep its folder on failure by itself (a report that names files to look at) makes it with mkdtempSync and says
 * why beside it.
 */
const made: string[] = [];

/** A new empty folder `<tmp>/<name>-XXXXXX`, removed when this test file ends. */
export function workFolder(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `${name}-`));
  made.push(dir);
  return dir;
}

/**
 * A test file's work folder with a short way to name paths in it: `work.at('a', 'b')` is `<dir>/a/b`. Made when
 * the file is collected, removed when it ends.
 */
export function workArea(name: string): { dir: string; at: (...parts: string[]) => string } {
  const dir = workFolder(name);
  return { dir, at: (...parts) => path.join(dir, ...parts) };
}

function removeAll(): void {
  const dirs = made.splice(0);
  if (process.env.LORA_STUDIO_KEEP_TEST_FOLDERS) {
    for (const d of dirs) console.log(`kept ${d}`);
    return;
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

// Registered when a test file first imports this module, so it runs once, after every test of that file (each file
// has its own copy of the module). A process a test starts (tsx running a helper that imports this module) has no
// runner, and there importing vitest throws: nothing to register, and it makes no work folders.
const vitest = await import('vitest').catch(() => undefined);
vitest?.afterAll(removeAll);
