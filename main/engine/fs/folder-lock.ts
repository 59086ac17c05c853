import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { onInterrupt } from './interrupt-cleanup.ts';

/**
 * One writer per output: a lock file made with O_EXCL (the kernel lets exactly one process create it) that names its
 * owner by pid, process start time and host. A lock whose owner is gone (no such pid, a zombie, or the pid now belongs
 * to a process started at another time) is stale: the next writer removes it, under a second short-lived lock so that
 * two writers finding one stale lock cannot both take it. A run folder holds its lock inside (`.owner.lock`); an
 * export's output, which must not exist until it is complete, has its lock beside it (`.<name>.lock`).
 */

export interface LockOwner {
  pid: number;
  /** The owner's start time as the OS tells it (boot id + start tick on Linux); absent where it cannot be read. */
  started?: string;
  host: string;
  /** What writes: `finetune`, `merge`, `quantize`, … */
  command: string;
  /** When the lock was taken (ISO time). */
  since: string;
  /** Tells this taking of the lock from any other (a release removes only its own lock). */
  token: string;
}

type OwnerState = 'alive' | 'stale' | 'elsewhere';

/** The lock of an output that appears only when complete (an export folder or file): beside it. */
export function lockBeside(target: string): string {
  const full = path.resolve(target);
  return path.join(path.dirname(full), `.${path.basename(full)}.lock`);
}

/** A lock file that cannot be read yet is being written by its owner; after this long it is garbage. */
const UNREADABLE_GRACE_MS = 10_000;

let bootId: string | undefined;
function linuxBootId(): string {
  bootId ??= (() => {
    try {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      return 'boot';
    }
  })();
  return bootId;
}

/** A process's state and start time from /proc (Linux), or undefined when it does not exist. */
function linuxProcess(pid: number): { state: string; started: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: the fields after it start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], started: `${linuxBootId()}:${fields[19]}` };
}

/** When process `pid` started, as a string that differs for a reused pid; undefined where the OS does not say. */
export function processStartTime(pid: number): string | undefined {
  if (process.platform === 'linux') return linuxProcess(pid)?.started;
  if (process.platform === 'darwin' || process.platform === 'freebsd') {
    try {
      return execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', timeout: 5000 }).trim() || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function pidExists(pid: number): boolean {
  if (process.platform === 'linux') {
    const p = linuxProcess(pid);
    return p !== undefined && p.state !== 'Z' && p.state !== 'X'; // a zombie has ended; only its parent has not reaped it
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/** Whether the owner still runs: on another host it cannot be checked, so it counts as running there. */
function ownerState(owner: LockOwner): OwnerState {
  if (owner.host !== os.hostname()) return 'elsewhere';
  if (!Number.isInteger(owner.pid) || owner.pid <= 0 || !pidExists(owner.pid)) return 'stale';
  if (owner.started !== undefined) {
    const now = processStartTime(owner.pid);
    if (now !== undefined && now !== owner.started) return 'stale'; // the pid was reused by a newer process
  }
  return 'alive';
}

let ownStart: string | undefined | null = null;
function myRecord(command: string): LockOwner {
  if (ownStart === null) ownStart = processStartTime(process.pid);
  return {
    pid: process.pid,
    ...(ownStart ? { started: ownStart } : {}),
    host: os.hostname(),
    command,
    since: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
}

type LockRead = { kind: 'missing' } | { kind: 'owner'; owner: LockOwner } | { kind: 'unreadable'; ageMs: number };

/** Read a lock file without blocking on anything that is not a plain file (a FIFO planted there is refused). */
function readLock(file: string): LockRead {
  let st;
  try {
    st = lstatSync(file);
  } catch {
    return { kind: 'missing' };
  }
  if (!st.isFile()) throw new StudioError('is not a lock file (not a plain file); remove it, then try again', file, 'output/bad-lock');
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
    if (typeof json.pid === 'number' && typeof json.token === 'string' && typeof json.host === 'string')
      return { kind: 'owner', owner: { ...json, command: String(json.command ?? 'a writer') } };
  } catch {
    // empty (its owner is still writing it) or garbage
  }
  return { kind: 'unreadable', ageMs: Date.now() - st.mtimeMs };
}

/** The live owner of `file`'s lock, or undefined when it is free or stale. */
export function liveOwner(file: string): (LockOwner & { state: Exclude<OwnerState, 'stale'> }) | undefined {
  const r = readLock(file);
  if (r.kind !== 'owner') return undefined;
  const state = ownerState(r.owner);
  return state === 'stale' ? undefined : { ...r.owner, state };
}

/** Create `file` only if it does not exist, with `text` in it. False when it exists. */
function createExclusive(file: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** "merge (pid 123, since 2026-…)", the holder as a refusal names it. */
export function describeOwner(owner: LockOwner, state: OwnerState): string {
  return `${owner.command} (pid ${owner.pid}${state === 'elsewhere' ? ` on ${owner.host}` : ''}, since ${owner.since})`;
}

function refusal(what: string, file: string, owner: LockOwner | undefined, state: OwnerState): StudioError {
  if (!owner)
    return new StudioError(`is being claimed by another process at this moment (${file}); try again in a moment`, what, 'output/in-use');
  const gone = state === 'elsewhere' ? `; if that process has ended, delete ${file}` : '; wait for it to finish or stop it, then try again';
  return new StudioError(`in use by ${describeOwner(owner, state)}: one writer at a time${gone}`, what, 'output/in-use');
}

/**
 * Remove a stale lock, unless another process took the lock meanwhile. A second lock (`<file>.reap`) makes the
 * check-and-remove one step among processes; its own owner, if it died in that instant, is removed the same way.
 */
function reapStale(file: string, stale: string): void {
  const reaper = `${file}.reap`;
  const me = myRecord('reaping');
  if (!createExclusive(reaper, JSON.stringify(me))) {
    const r = readLock(reaper);
    const dead = r.kind === 'owner' ? ownerState(r.owner) === 'stale' : r.kind === 'unreadable' && r.ageMs > UNREADABLE_GRACE_MS;
    if (dead) rmSync(reaper, { force: true });
    else sleepSync(10);
    return;
  }
  try {
    const now = readLock(file);
    const same =
      now.kind === 'owner' ? now.owner.token === stale : now.kind === 'unreadable' && stale === '' && now.ageMs > UNREADABLE_GRACE_MS;
    if (same) rmSync(file, { force: true });
  } finally {
    rmSync(reaper, { force: true });
  }
}

export interface HeldLock {
  readonly file: string;
  readonly owner: LockOwner;
  /** Remove the lock if it is still this one. Safe to call twice. */
  release(): void;
}

/**
 * Take the lock `file` for the output `what` (the path a refusal names), or throw the one-line refusal naming the
 * process that holds it. A stale lock (its owner has ended) is taken over. The lock is released by `release()`, and
 * on an interrupt (SIGINT/SIGTERM) by the interrupt cleanup.
 */
export function acquireLock(file: string, what: string, command: string): HeldLock {
  const me = myRecord(command);
  for (let attempt = 0; attempt < 100; attempt++) {
    if (createExclusive(file, JSON.stringify(me) + '\n')) return held(file, me);
    const r = readLock(file);
    if (r.kind === 'missing') continue; // released meanwhile
    if (r.kind === 'unreadable') {
      if (r.ageMs < UNREADABLE_GRACE_MS) throw refusal(what, file, undefined, 'alive');
      reapStale(file, '');
      continue;
    }
    const state = ownerState(r.owner);
    if (state !== 'stale') throw refusal(what, file, r.owner, state);
    reapStale(file, r.owner.token);
  }
  throw refusal(what, file, undefined, 'alive');
}

function held(file: string, owner: LockOwner): HeldLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    offInterrupt();
    try {
      const r = readLock(file);
      if (r.kind === 'owner' && r.owner.token === owner.token) rmSync(file, { force: true });
    } catch {
      // replaced by something that is not a lock: not ours to remove
    }
  };
  const offInterrupt = onInterrupt(release);
  return { file, owner, release };
}
