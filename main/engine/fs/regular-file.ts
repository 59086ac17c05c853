import { closeSync, constants, copyFileSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { StudioError } from '../errors.ts';
import { fsStudioError } from './fs-errors.ts';

/**
 * Reading a path a user gave, safely: only regular files are opened (a FIFO would block the open or the read until
 * someone writes to it, a device such as /dev/zero never ends, a socket cannot be read), sizes are capped before
 * anything is allocated, and each read is async with a time limit, so no file can stall the studio's event loop.
 */

/** How long one read may take before the file counts as stalled (a hung network drive). */
const READ_TIMEOUT_MS = Number(process.env.LORA_STUDIO_READ_TIMEOUT_MS) || 60_000;

/** What a non-regular file is, in words; undefined for a regular file. */
function specialKind(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function notRegular(file: string, kind: string): StudioError {
  const advice =
    kind === 'a folder'
      ? 'give the file inside it'
      : 'reading it could block or never end; give a regular file (copy the data to one first)';
  return new StudioError(`is ${kind}, not a regular file: ${advice}`, file, 'fs/not-regular');
}

/** Refuse anything but a regular file, by its type, without opening it (stat never blocks on a FIFO). */
function requireRegularFileSync(file: string): void {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (e) {
    throw fsStudioError(e, file, 'read') ?? e;
  }
  const kind = specialKind(st);
  if (kind) throw notRegular(file, kind);
}

/**
 * Open a regular file for reading. The type is checked before the open and again on the open descriptor (O_NONBLOCK:
 * a FIFO swapped in between does not block the open), so a special file is refused by type, never read.
 */
export async function openRegularFile(file: string): Promise<{ handle: FileHandle; size: number }> {
  let before: Stats;
  try {
    before = await stat(file);
  } catch (e) {
    throw fsStudioError(e, file, 'read') ?? e;
  }
  const kind = specialKind(before);
  if (kind) throw notRegular(file, kind);
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    // ENXIO: a socket, or a FIFO with no writer swapped in after the stat
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') throw notRegular(file, 'not a regular file');
    throw fsStudioError(e, file, 'read') ?? e;
  }
  const now = await handle.stat();
  const after = specialKind(now);
  if (after) {
    await handle.close();
    throw notRegular(file, after);
  }
  return { handle, size: now.size };
}

/** `promise`, or a StudioError naming `file` when it takes longer than `ms`. */
export function withReadTimeout<T>(promise: Promise<T>, file: string, ms = READ_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StudioError(`no data after ${Math.round(ms / 1000)} s of waiting; is it on a stalled network drive?`, file, 'fs/timeout'),
        ),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface BoundedReadOptions {
  /** Refuse a file larger than this, before reading it. */
  maxBytes: number;
  /** What the file is, for the size message ("tokenizer.json", "a prompt template"). */
  what?: string;
  timeoutMs?: number;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 3 : 1)} MiB`;

function tooLarge(file: string, size: number, opts: BoundedReadOptions): StudioError {
  return new StudioError(
    `is ${mib(size)}, more than the ${mib(opts.maxBytes)} ${opts.what ? `a ${opts.what}` : 'a file of this kind'} may be; is this the right file?`,
    file,
    'fs/too-large',
  );
}

/** A regular file's bytes, at most `maxBytes`, read asynchronously with a time limit per read. */
export async function readRegularFile(file: string, opts: BoundedReadOptions): Promise<Buffer> {
  const { handle, size } = await openRegularFile(file);
  let closed = false;
  try {
    if (size > opts.maxBytes) throw tooLarge(file, size, opts);
    const out = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await withReadTimeout(handle.read(out, done, size - done, done), file, opts.timeoutMs);
      if (bytesRead === 0) break; // the file shrank since the stat
      done += bytesRead;
    }
    return done === size ? out : out.subarray(0, done);
  } catch (e) {
    if ((e as StudioError).code === 'fs/timeout') {
      closed = true;
      void handle.close().catch(() => undefined); // a read may still be pending on the stalled file
    }
    throw fsStudioError(e, file, 'read') ?? e;
  } finally {
    if (!closed) await handle.close();
  }
}

/** readRegularFile as UTF-8 text (invalid sequences become U+FFFD, as Node's readFile does). */
export async function readRegularText(file: string, opts: BoundedReadOptions): Promise<string> {
  return (await readRegularFile(file, opts)).toString('utf8');
}

/**
 * A regular file in chunks of up to `chunkBytes`, each read asynchronously with a time limit: data files are streamed,
 * never held whole. The file is opened when the first chunk is asked for; `onOpen` then gets its size.
 */
export async function* streamRegularFile(
  file: string,
  opts: { chunkBytes?: number; timeoutMs?: number; onOpen?: (size: number) => void } = {},
): AsyncGenerator<Uint8Array> {
  const { handle, size } = await openRegularFile(file);
  opts.onOpen?.(size);
  const chunkBytes = opts.chunkBytes ?? 1 << 20;
  let position = 0;
  let stalled = false;
  try {
    for (;;) {
      const buffer = Buffer.allocUnsafe(chunkBytes);
      let bytesRead: number;
      try {
        ({ bytesRead } = await withReadTimeout(handle.read(buffer, 0, chunkBytes, position), file, opts.timeoutMs));
      } catch (e) {
        stalled = (e as StudioError).code === 'fs/timeout';
        throw fsStudioError(e, file, 'read') ?? e;
      }
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    if (stalled) void handle.close().catch(() => undefined);
    else await handle.close();
  }
}

/**
 * readRegularFile for the few synchronous readers that run in a job or the CLI, never in the studio process: the same
 * type checks and size cap (a FIFO is refused, never opened for a blocking read), without the time limit.
 */
export function readRegularTextSync(file: string, opts: BoundedReadOptions): string {
  requireRegularFileSync(file);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw fsStudioError(e, file, 'read') ?? e;
  }
  try {
    const st = fstatSync(fd);
    const kind = specialKind(st);
    if (kind) throw notRegular(file, kind);
    if (st.size > opts.maxBytes) throw tooLarge(file, st.size, opts);
    const out = Buffer.allocUnsafe(st.size);
    let done = 0;
    while (done < st.size) {
      const n = readSync(fd, out, done, st.size - done, done);
      if (n === 0) break;
      done += n;
    }
    return out.subarray(0, done).toString('utf8');
  } catch (e) {
    throw fsStudioError(e, file, 'read') ?? e;
  } finally {
    closeSync(fd);
  }
}

/** Copy a file a user gave beside an export: a regular file only (copying a FIFO would block until it is fed). */
export function copyRegularFileSync(from: string, to: string): void {
  requireRegularFileSync(from);
  copyFileSync(from, to);
}
