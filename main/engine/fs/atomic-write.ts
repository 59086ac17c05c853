import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { rethrowFsError, withFsErrors } from './fs-errors.ts';
import { onInterrupt } from './interrupt-cleanup.ts';
import { SequentialWriter } from './sequential-writer.ts';

/** A hidden temp name in the same folder (so the final rename is atomic on one filesystem). */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

const TEMP_NAME = /^\..+\.tmp-\d+-[0-9a-f]{8}$/;

/** Whether `name` is one tempPathFor makes. */
export function isAtomicTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/**
 * The temp files or folders that tempPathFor made for `target` and a killed process left beside it. Only the
 * output's owner (who holds its lock) may remove them: no live writer of that output can be filling one.
 */
export async function leftoverTempsOf(target: string): Promise<string[]> {
  const full = path.resolve(target);
  const prefix = `.${path.basename(full)}.tmp-`;
  const names = await readdir(path.dirname(full)).catch(() => [] as string[]);
  return names
    .filter((n) => n.startsWith(prefix) && /^\d+-[0-9a-f]{8}$/.test(n.slice(prefix.length)))
    .map((n) => path.join(path.dirname(full), n));
}

/**
 * Remove the temp files a killed process left in `dir` (names made by tempPathFor). Call it only where no other
 * process writes, e.g. a run's adapter/ folder when that run starts again. Returns the names removed.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const stale = (await readdir(dir).catch(() => [] as string[])).filter((n) => TEMP_NAME.test(n));
  for (const n of stale) await rm(path.join(dir, n), { force: true });
  return stale;
}

export interface AtomicWriteHooks {
  /** Runs after the temp file is complete and fsynced, just before the rename (tests inject failures here). */
  beforeRename?(tempPath: string): void | Promise<void>;
  /**
   * Leave the fsync to the caller: a file written inside a folder that withAtomicDir renames into place, which
   * fsyncs every file it holds first. An export then never waits for one shard's data to reach the disk before it
   * writes the next.
   */
  syncedByFolder?: boolean;
}

/**
 * Write a file through a temp file: `write` fills it (given its handle and path), then it is fsynced and renamed over
 * `target`.
 * On any error the temp file is removed and `target` is untouched: readers see the old file or the new one,
 * never half of one.
 */
export async function withAtomicFile<T>(
  target: string,
  write: (handle: FileHandle, tempPath: string) => Promise<T>,
  hooks: AtomicWriteHooks = {},
): Promise<T> {
  const temp = tempPathFor(target);
  // A new output folder is made as needed (an empty folder left by a failure never looks like a finished file).
  await withFsErrors(target, 'write', () => mkdir(path.dirname(target), { recursive: true }));
  // Registered before the file exists: a signal while it is being opened still removes it.
  const offInterrupt = onInterrupt(() => rmSync(temp, { force: true }));
  const handle = await withFsErrors(target, 'write', () => open(temp, 'wx')).catch((e: unknown) => {
    offInterrupt();
    throw e;
  });
  let closed = false;
  try {
    const result = await write(handle, temp);
    if (!hooks.syncedByFolder) await handle.sync();
    await handle.close();
    closed = true;
    await hooks.beforeRename?.(temp);
    await rename(temp, target);
    if (!hooks.syncedByFolder) await syncDir(path.dirname(target));
    return result;
  } catch (e) {
    if (!closed) await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    // A full disk reports `ENOSPC … write` with no file: name the one being written.
    rethrowFsError(e, target);
  } finally {
    offInterrupt();
  }
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, hooks?: AtomicWriteHooks): Promise<void> {
  await withAtomicFile(target, (h) => h.writeFile(data), hooks);
}

/** fsync a file or folder by its path (fsync writes back a file's data whichever descriptor wrote it). */
export async function fsyncPath(p: string): Promise<void> {
  const h = await open(p, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * fsync the folder so the rename itself survives a power cut. Best effort: the rename has already happened,
 * and Windows cannot open a folder as a file at all.
 */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let h: FileHandle | undefined;
  try {
    h = await open(dir, 'r');
    await h.sync();
  } catch {
    // Some filesystems (network mounts, FUSE) refuse fsync on a folder; the data itself is already synced.
  } finally {
    await h?.close().catch(() => undefined);
  }
}

/**
 * withAtomicFile for a file written front to back: `write` gets a SequentialWriter (direct I/O where it can), whose
 * gathered bytes are written before the fsync; its direct descriptor is closed either way.
 */
export async function withAtomicStream<T>(
  target: string,
  write: (out: SequentialWriter) => Promise<T>,
  hooks: AtomicWriteHooks = {},
): Promise<T> {
  return withAtomicFile(
    target,
    async (handle, temp) => {
      const out = await SequentialWriter.open(handle, temp);
      try {
        const result = await write(out);
        await out.finish();
        return result;
      } finally {
        await out.close();
      }
    },
    hooks,
  );
}
