import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { link, mkdir, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { fsStudioError, isErrnoError, withFsErrors } from './fs-errors.ts';
import { fsyncPath, leftoverTempsOf, tempPathFor } from './atomic-write.ts';
import { acquireLock, lockBeside, type HeldLock } from './folder-lock.ts';
import { onInterrupt } from './interrupt-cleanup.ts';

/** Writes the output into the temp folder it is given. */
type Fill<T> = (tempDir: string) => Promise<T>;

export interface AtomicOutputOptions<T> {
  /** What writes, as the lock names it to a second writer (`merge`, `quantize`, …). */
  command?: string;
  /** Write more into the temp folder once `fill` has succeeded (the verification report): part of the atomic write. */
  finish?: (tempDir: string, result: T) => void | Promise<void>;
  /** Told of each leftover of an interrupted earlier writer of this output that was removed. */
  onLeftover?: (removed: string) => void;
}

/**
 * Build an output folder in a hidden temp sibling and rename it into place when `fill` (and `finish`) succeed: a
 * failure (a write error, a full disk, a killed process) leaves either the whole output or none of it. Every file in
 * it, and the folder, are fsynced before the rename, so a power cut after it never shows a folder with a file cut
 * short. The output is locked for the whole time (one writer at a time), and the rename never replaces anything but
 * an empty folder: files that appear in the target meanwhile are kept and the export is refused.
 */
export async function withAtomicDir<T>(outDir: string, fill: Fill<T>): Promise<T>;
export async function withAtomicDir<T>(outDir: string, opts: AtomicOutputOptions<T>, fill: Fill<T>): Promise<T>;
export async function withAtomicDir<T>(outDir: string, a: AtomicOutputOptions<T> | Fill<T>, b?: Fill<T>): Promise<T> {
  const [opts, fill] = typeof a === 'function' ? [{}, a] : [a, b!];
  const target = path.resolve(outDir);
  if (existsSync(target) && !statSync(target).isDirectory()) {
    throw new StudioError('is a file, not a folder; give the path of a new folder', outDir, 'export/not-a-folder');
  }
  await withFsErrors(outDir, 'write', () => mkdir(path.dirname(target), { recursive: true }));
  const lock = await withFsErrors(outDir, 'write', () => acquireLock(lockBeside(target), outDir, opts.command ?? 'export'));
  try {
    if (existsSync(target) && readdirSync(target).length > 0) {
      throw new StudioError('output folder already exists and is not empty; choose another or remove it', outDir, 'export/exists');
    }
    return await fillInTemp(outDir, target, fill, opts, (temp) => commitFolder(temp, target));
  } finally {
    lock.release();
  }
}

/**
 * withAtomicDir for files that go beside each other in an existing or new folder (a GGUF, its Modelfile, its
 * report): `fill` writes each under its own name into the temp folder, and they are moved into place only when all
 * are written and checked. Each target is locked and must not exist; one that appears meanwhile is kept and the
 * export refused. The first target names the temp folder; a target `fill` did not write is skipped.
 */
export async function withAtomicFiles<T>(targets: string[], opts: AtomicOutputOptions<T>, fill: Fill<T>): Promise<T> {
  const full = targets.map((t) => path.resolve(t));
  const parent = path.dirname(full[0]);
  if (full.some((t) => path.dirname(t) !== parent)) throw new Error('withAtomicFiles: the targets must share one folder');
  await withFsErrors(targets[0], 'write', () => mkdir(parent, { recursive: true }));
  const locks: HeldLock[] = [];
  try {
    // In one order everywhere, so two writers of overlapping sets refuse each other instead of each holding half.
    for (const t of [...full].sort())
      locks.push(await withFsErrors(t, 'write', () => acquireLock(lockBeside(t), t, opts.command ?? 'export')));
    for (const t of full) {
      if (existsSync(t))
        throw new StudioError('already exists; an export never overwrites a file. Choose another output or remove it', t, 'export/exists');
    }
    return await fillInTemp(targets[0], parent, fill, opts, (temp) => commitFiles(temp, full));
  } finally {
    for (const l of locks.reverse()) l.release();
  }
}

/**
 * Remove the leftovers of killed writers of `given` (the caller holds its lock), fill a new temp folder, commit it.
 * Messages name `shownAs` (the output folder, or the folder of the output files) where they would name the temp folder.
 */
async function fillInTemp<T>(
  given: string,
  shownAs: string,
  fill: Fill<T>,
  opts: AtomicOutputOptions<T>,
  commit: (temp: string) => Promise<void>,
): Promise<T> {
  const target = path.resolve(given);
  for (const old of await leftoverTempsOf(target)) {
    await rm(old, { recursive: true, force: true });
    opts.onLeftover?.(old);
  }
  const temp = tempPathFor(target);
  // Made synchronously and registered at once (as writeCheckpoint's): a signal never finds it made but unregistered.
  await withFsErrors(given, 'write', async () => mkdirSync(temp));
  const offInterrupt = onInterrupt(() => rmSync(temp, { recursive: true, force: true, maxRetries: 3 }));
  try {
    const result = await fill(temp);
    await opts.finish?.(temp, result);
    for (const name of await readdir(temp)) {
      if (statSync(path.join(temp, name)).isFile()) await fsyncPath(path.join(temp, name));
    }
    await fsyncPath(temp);
    await commit(temp);
    await rm(temp, { recursive: true, force: true }); // after commitFiles: only the temp names of files now in place
    await syncFolder(path.dirname(target));
    return result;
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    // A write error names the hidden temp folder; the user knows the path they asked for.
    const inTemp = isErrnoError(e) && (!e.path || e.path.startsWith(temp));
    const fsError = fsStudioError(e, inTemp ? given : undefined);
    if (fsError) throw fsError;
    if (e instanceof StudioError && e.message.includes(temp)) throw new StudioError(e.message.split(temp).join(shownAs), undefined, e.code);
    throw e;
  } finally {
    offInterrupt();
  }
}

function appeared(target: string, what: string): StudioError {
  return new StudioError(
    `${what} appeared here while the export ran; it is kept and the export was not put in its place. Move it away or choose another output, then export again`,
    target,
    'export/appeared',
  );
}

/** rename(2) replaces an empty folder and refuses a full one; where it cannot replace even an empty one (Windows), rmdir it first. */
async function commitFolder(temp: string, target: string): Promise<void> {
  try {
    await rename(temp, target);
    return;
  } catch (e) {
    if (!isErrnoError(e) || !['EEXIST', 'ENOTEMPTY', 'EPERM', 'EACCES', 'ENOTDIR', 'EISDIR'].includes(e.code!)) throw e;
    const st = await stat(target).catch(() => undefined);
    if (!st) throw e;
    if (!st.isDirectory()) throw appeared(target, 'a file');
    const inside = await readdir(target);
    if (inside.length > 0) throw appeared(target, `${inside.slice(0, 3).join(', ')}${inside.length > 3 ? ', …' : ''}`);
    await rmdir(target); // removes an empty folder only, never a file in it
    await rename(temp, target);
  }
}

/** Errors of a file system that has no hard links: there a check and a rename stand in for link(2). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** Put the temp folder's files in place with link(2), which refuses an existing name; undo them all if one is refused. */
async function commitFiles(temp: string, targets: string[]): Promise<void> {
  const placed: string[] = [];
  for (const t of targets) {
    const from = path.join(temp, path.basename(t));
    if (!existsSync(from)) continue;
    try {
      await link(from, t);
    } catch (e) {
      const code = isErrnoError(e) ? e.code! : '';
      if (NO_HARD_LINKS.has(code) && !existsSync(t)) {
        await rename(from, t);
      } else {
        for (const p of placed) await unlinkIfSame(p, path.join(temp, path.basename(p)));
        if (code === 'EEXIST') throw appeared(t, 'a file of this name');
        throw e;
      }
    }
    placed.push(t);
  }
}

/** Remove `file` only if it is the same file as `ours` (a link this process made), never one put there by someone else. */
async function unlinkIfSame(file: string, ours: string): Promise<void> {
  const [a, b] = await Promise.all([stat(file).catch(() => undefined), stat(ours).catch(() => undefined)]);
  if (a && b && a.ino === b.ino && a.dev === b.dev) await unlink(file);
}

/** fsync a folder so a rename in it survives a power cut; best effort (some file systems and Windows refuse it). */
async function syncFolder(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    // the data itself is synced
  }
}
