import { constants, existsSync, realpathSync } from 'node:fs';
import { access, mkdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../errors.ts';

/**
 * File systems that are not storage: the kernel's views of processes, devices and settings. Node's recursive
 * mkdir spins forever under /proc (mkdir answers ENOENT there while the parent exists, so it retries the parent
 * and the child in turn), so they are refused by type before any mkdir. Magic numbers from linux/magic.h.
 */
const SPECIAL_FILE_SYSTEMS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x1cd1: 'devpts',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0xcafe4a11: 'bpf',
  0x6e736673: 'nsfs',
};

/** True when `child` is `parent` or lies under it (both resolved paths). */
export function isPathInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The real path of `p`, or of its nearest existing folder with the rest appended (so symlinked paths compare right). */
export function realPathOf(p: string): string {
  const full = path.resolve(p);
  if (existsSync(full)) return realpathSync(full);
  const up = path.dirname(full);
  return up === full ? full : path.join(realPathOf(up), path.basename(full));
}

interface OutputOverInputs {
  /** The output path and the flag that named it (`output_dir`, `output`). */
  output: string;
  flag: string;
  /** The folders read from, by the flag that named them. */
  inputs: [flag: string, dir: string][];
  /** Who writes, in the refusal: "an export", "a fine-tuning run". */
  who: string;
  code: string;
  /**
   * Also refuse an output folder that holds an input: a run folder gets config.json, checkpoints/ and adapter/ written
   * (and, with overwrite, removed) at its top, so a model folder under it is at risk. An export's folder must be
   * new or empty, so it holds nothing.
   */
  refuseHolding?: boolean;
}

/**
 * The one rule of inputs and outputs: nothing writes into a folder it reads. Refuse an output that is or lies inside
 * an input folder (and, with `refuseHolding`, one that holds an input), comparing real paths (symlinks resolved).
 */
export function refuseOutputOverInputs(c: OutputOverInputs): void {
  const out = realPathOf(c.output);
  for (const [flag, dir] of c.inputs) {
    const input = realPathOf(dir);
    if (isPathInside(out, input)) {
      throw new StudioError(
        `--${c.flag} is inside the ${flag} folder ${dir}; ${c.who} never writes into its input. Choose a path outside it`,
        c.output,
        c.code,
      );
    }
    if (c.refuseHolding && isPathInside(input, out)) {
      throw new StudioError(
        `--${c.flag} holds the ${flag} folder ${dir}; ${c.who} never writes where its input lies. Choose a folder that does not contain it`,
        c.output,
        c.code,
      );
    }
  }
}

/** The nearest folder of `dir` (itself included) that exists, and what it is. */
async function nearestExisting(dir: string): Promise<{ at: string; isDir: boolean }> {
  let at = path.resolve(dir);
  for (;;) {
    const s = await stat(at).catch(() => undefined);
    if (s) return { at, isDir: s.isDirectory() };
    const up = path.dirname(at);
    if (up === at) return { at, isDir: false };
    at = up;
  }
}

/**
 * Check, in a bounded number of system calls, that `target` can be made: its nearest existing folder must be an
 * ordinary, writable folder on a storage file system. `what` names the setting in messages (e.g. "output_dir").
 * Returns that folder.
 */
export async function checkOutputParent(target: string, what: string): Promise<string> {
  const full = path.resolve(target);
  const { at, isDir } = await nearestExisting(full);
  const where = `${what} ${full}`;
  if (!isDir) throw new StudioError(`${where}: ${at} is a file, not a folder; choose another ${what}`, at, 'output/not-a-folder');
  const fsType = SPECIAL_FILE_SYSTEMS[(await statfs(at)).type];
  if (fsType)
    throw new StudioError(
      `${where}: ${at} is on the kernel's ${fsType} file system, which holds no files; choose a folder on a disk`,
      at,
      'output/special',
    );
  try {
    await access(at, constants.W_OK);
  } catch (e) {
    // The errno code stays in brackets, as in fs-errors.ts, so a search for it still finds help.
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'is on a read-only file system' : 'is not writable by this user';
    throw new StudioError(`${where}: ${at} ${why}; choose a folder you can write to${code ? ` [${code}]` : ''}`, at, 'output/not-writable');
  }
  return at;
}

/**
 * Make an output folder (and its missing parents) once checkOutputParent passes. Each missing level is made by a
 * single mkdir, so nothing can loop.
 */
export async function makeOutputFolder(dir: string, what: string): Promise<string> {
  const target = path.resolve(dir);
  const at = await checkOutputParent(target, what);
  const missing: string[] = [];
  for (let d = target; d !== at; d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      await mkdir(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(d)).isDirectory()) continue; // made meanwhile by someone else
      const why =
        code === 'EROFS'
          ? 'the file system is read-only'
          : code === 'ENOSPC'
            ? 'the disk is full'
            : code === 'EACCES' || code === 'EPERM'
              ? 'permission denied'
              : (e as Error).message;
      throw new StudioError(`${what} ${target}: cannot make the folder (${why}); choose another ${what}`, d, 'output/mkdir');
    }
  }
  return target;
}
