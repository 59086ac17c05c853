import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { fsStudioError, isErrnoError, withFsErrors } from './fs-errors.ts';
import { fsyncPath } from './atomic-write.ts';

/**
 * Build an output folder in a hidden temp sibling and rename it into place when `fill` succeeds: a failure (a
 * write error, a full disk, a killed process) leaves either the whole output or none of it. Every file in it, and
 * the folder, are fsynced before the rename, so a power cut after it never shows a folder with a file cut short.
 */
export async function withAtomicDir<T>(outDir: string, fill: (tempDir: string) => Promise<T>): Promise<T> {
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) {
    throw new StudioError('is a file, not a folder; give the path of a new folder', outDir, 'export/not-a-folder');
  }
  if (existsSync(outDir) && readdirSync(outDir).length > 0) {
    throw new StudioError('output folder already exists and is not empty; choose another or remove it', outDir, 'export/exists');
  }
  const parent = path.dirname(path.resolve(outDir));
  const temp = path.join(parent, `.${path.basename(outDir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await withFsErrors(outDir, 'write', async () => {
    await mkdir(parent, { recursive: true });
    await mkdir(temp);
  });
  try {
    const result = await fill(temp);
    for (const name of readdirSync(temp)) {
      if (statSync(path.join(temp, name)).isFile()) await fsyncPath(path.join(temp, name));
    }
    await fsyncPath(temp);
    await rm(outDir, { recursive: true, force: true }); // an empty folder left by the user
    await rename(temp, outDir);
    return result;
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    // A write error names the hidden temp folder; the user knows the folder they asked for.
    const inTemp = isErrnoError(e) && (!e.path || e.path.startsWith(temp));
    const fsError = fsStudioError(e, inTemp ? outDir : undefined);
    if (fsError) throw fsError;
    if (e instanceof StudioError && e.code.startsWith('fs/')) throw new StudioError(e.message.split(temp).join(outDir), undefined, e.code);
    throw e;
  }
}
