import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** A hidden temp name in the same folder (so the final rename is atomic on one filesystem). */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Write a file through a temp file: `write` fills it, then it is fsynced and renamed over `target`.
 * On any error the temp file is removed and `target` is untouched: readers see the old file or the new one,
 * never half of one.
 */
export async function withAtomicFile<T>(target: string, write: (handle: FileHandle) => Promise<T>): Promise<T> {
  const temp = tempPathFor(target);
  const handle = await open(temp, 'wx');
  try {
    const result = await write(handle);
    await handle.sync();
    await handle.close();
    await rename(temp, target);
    await syncDir(path.dirname(target));
    return result;
  } catch (e) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw e;
  }
}

export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await withAtomicFile(target, (h) => h.writeFile(data));
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
