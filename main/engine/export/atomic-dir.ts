import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../errors.ts';

/**
 * Build an output folder in a hidden temp sibling and rename it into place when `fill` succeeds: a failure (a
 * write error, a full disk, a killed process) leaves either the whole output or none of it.
 */
export async function withAtomicDir<T>(outDir: string, fill: (tempDir: string) => Promise<T>): Promise<T> {
  if (existsSync(outDir) && readdirSync(outDir).length > 0) {
    throw new StudioError('output folder already exists and is not empty; choose another or remove it', outDir, 'export/exists');
  }
  const parent = path.dirname(path.resolve(outDir));
  await mkdir(parent, { recursive: true });
  const temp = path.join(parent, `.${path.basename(outDir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(temp);
  try {
    const result = await fill(temp);
    const h = await open(temp, 'r');
    await h.sync();
    await h.close();
    await rm(outDir, { recursive: true, force: true }); // an empty folder left by the user
    await rename(temp, outDir);
    return result;
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
}
