import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../errors.ts';

/**
 * Node's file-system errors (`EEXIST: file already exists, mkdir '…'`, or a bare `ENOSPC … write` with no file at
 * all) turned into StudioErrors that name the path and say what to do.
 */

/** What the code was doing with the path: reading it, or creating/writing it. */
type FsAction = 'read' | 'write';

const ADVICE: Record<string, (action: FsAction) => string> = {
  EEXIST: () => 'a file is in the way where a folder is needed; choose another path or move that file',
  ENOTDIR: () => 'part of this path is a file, not a folder; choose a folder path',
  EISDIR: (a) => (a === 'read' ? 'this is a folder; give a file' : 'a folder is in the way where a file is needed; choose another path'),
  EROFS: () => 'the file system is read-only; choose a folder on a writable disk',
  EACCES: (a) => (a === 'read' ? 'permission denied; check its permissions' : 'permission denied; choose a folder you can write to'),
  EPERM: (a) => (a === 'read' ? 'not permitted; check its permissions' : 'not permitted to write here; choose a folder you can write to'),
  ENOSPC: () => 'the disk is full; free some space or choose another disk (no partial output was kept)',
  EDQUOT: () => 'the disk quota is used up; free some space or choose another disk (no partial output was kept)',
  ENOENT: (a) =>
    a === 'read'
      ? 'no such file or folder; check the path'
      : 'cannot create it here: its parent folder is missing or does not take new files (e.g. /proc, a read-only mount); choose an ordinary writable folder',
  ENAMETOOLONG: () => 'the path is too long; choose a shorter one',
  ELOOP: () => 'too many symbolic links in the path',
  EMFILE: () => 'too many open files; close other programs or raise the limit (ulimit -n)',
  EIO: () => 'an input/output error from the disk; check the disk and try again',
};

/** The syscalls that create or change something: an ENOENT from them means "cannot create", not "not found". */
const WRITING_CALLS = new Set([
  'mkdir',
  'write',
  'rename',
  'copyfile',
  'link',
  'symlink',
  'rmdir',
  'unlink',
  'mkdtemp',
  'ftruncate',
  'fsync',
]);

/** A Node system error from fs (has an errno code such as 'ENOENT'). */
export function isErrnoError(e: unknown): e is NodeJS.ErrnoException {
  return (
    e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z]+$/.test((e as NodeJS.ErrnoException).code!)
  );
}

/**
 * The StudioError for an fs error, naming `file` (or the path Node reports); undefined for anything else. The
 * errno code stays in the message in brackets, so a search for it still finds help.
 */
export function fsStudioError(e: unknown, file?: string, given?: FsAction): StudioError | undefined {
  if (e instanceof StudioError || !isErrnoError(e)) return undefined;
  const action = given ?? (WRITING_CALLS.has(e.syscall ?? '') ? 'write' : 'read');
  const code = e.code === 'ENOENT' && action === 'write' ? (whyNotWritable(file ?? e.path) ?? 'ENOENT') : e.code!;
  // The path the user gave beats Node's (which may be a hidden temp file or a parent folder).
  const named = file ?? e.path;
  const advice = ADVICE[code]?.(action) ?? e.message.replace(/^E[A-Z]+:\s*/, '').replace(/,\s*\w+\s+'.*'$/, '');
  return new StudioError(`${advice} [${code}]`, named, `fs/${code.toLowerCase()}`);
}

/**
 * Node's recursive mkdir reports ENOENT on a read-only or forbidden disk (it cannot make the first missing folder):
 * ask the deepest folder that exists whether it takes new entries, and report its real reason.
 */
function whyNotWritable(target: string | undefined): string | undefined {
  if (!target) return undefined;
  let dir = path.resolve(target);
  while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (e) {
    return isErrnoError(e) ? e.code : undefined;
  }
}

/** Rethrow `e` as a StudioError naming `file` when it is an fs error; as it is otherwise. */
export function rethrowFsError(e: unknown, file?: string, action?: FsAction): never {
  throw fsStudioError(e, file, action) ?? e;
}

/** Run `body`; an fs error inside becomes a StudioError naming `file`. */
export async function withFsErrors<T>(file: string, action: FsAction, body: () => Promise<T> | T): Promise<T> {
  try {
    return await body();
  } catch (e) {
    rethrowFsError(e, file, action);
  }
}
