import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Bytes a direct write's address, length and file offset are multiples of (the largest logical block in use). */
export const DIRECT_ALIGN = 4096;
/** Bytes gathered before a direct write (two such buffers: one fills while the other is on its way to the disk). */
export const DIRECT_BUFFER_BYTES = 8 << 20;

/**
 * The bytes of a new file, written in order. Where the OS and filesystem allow O_DIRECT (Linux, on ext4, xfs and
 * most disks), they are gathered in page-aligned buffers and written a whole buffer at a time past the page cache;
 * the last partial block goes through the ordinary descriptor. A buffered write costs the CPU a copy of every byte
 * into the page cache, and a multi-GB export on a small machine spends a core on it: on the 2-core VM this was
 * measured on, `dd` wrote 4 GiB at 430 MB/s buffered (+ fsync, 9 s of system time) and at 2.3 GB/s direct (0.3 s).
 * Elsewhere (macOS, Windows, tmpfs refuses O_DIRECT) every write goes through the ordinary descriptor. Either way
 * the caller still fsyncs the file: a direct write is not durable until then.
 */
export class SequentialWriter {
  private position = 0;
  private filled = 0;
  private buffers: Uint8Array[] = [];
  private current = 0;
  /** The direct write of the other buffer, while this one fills. */
  private inFlight: Promise<void> = Promise.resolve();

  private constructor(
    private readonly handle: FileHandle,
    private readonly direct: FileHandle | undefined,
  ) {
    if (direct) this.buffers = [takeBuffer(), takeBuffer()];
  }

  /** A writer for the empty file open at `handle`, whose path is `file` (opened a second time for direct writes). */
  static async open(handle: FileHandle, file: string): Promise<SequentialWriter> {
    return new SequentialWriter(handle, await openDirect(file));
  }

  /** Whether writes go past the page cache. */
  get isDirect(): boolean {
    return this.direct !== undefined;
  }

  /** Bytes written so far (buffered ones included). */
  get bytesWritten(): number {
    return this.position + this.filled;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.direct) {
      await writeAllAt(this.handle, bytes, this.position);
      this.position += bytes.byteLength;
      return;
    }
    let done = 0;
    while (done < bytes.byteLength) {
      const buffer = this.buffers[this.current];
      const n = Math.min(bytes.byteLength - done, buffer.byteLength - this.filled);
      buffer.set(bytes.subarray(done, done + n), this.filled);
      this.filled += n;
      done += n;
      if (this.filled === buffer.byteLength) await this.sendFull();
    }
  }

  /** Writes what is gathered (the caller then closes this writer, and closes and fsyncs its own handle). */
  async finish(): Promise<void> {
    if (!this.direct) return;
    await this.inFlight;
    const buffer = this.buffers[this.current];
    const aligned = this.filled - (this.filled % DIRECT_ALIGN);
    await writeAllAt(this.direct, buffer.subarray(0, aligned), this.position);
    await writeAllAt(this.handle, buffer.subarray(aligned, this.filled), this.position + aligned);
    this.position += this.filled;
    this.filled = 0;
  }

  /** Closes the direct descriptor and gives its buffers back; bytes that finish has not written are dropped. */
  async close(): Promise<void> {
    await this.inFlight.catch(() => undefined);
    await this.direct?.close().catch(() => undefined);
    spareBuffers.push(...this.buffers.splice(0));
  }

  /** The full buffer goes to the disk while the other one fills (after the other's own write has ended). */
  private async sendFull(): Promise<void> {
    await this.inFlight;
    const buffer = this.buffers[this.current];
    const at = this.position;
    this.inFlight = writeAllAt(this.direct!, buffer, at);
    this.inFlight.catch(() => undefined); // raised by the next write, finish or close
    this.position += buffer.byteLength;
    this.current = 1 - this.current;
    this.filled = 0;
  }
}

/** The part of the WebAssembly API used here (this project's TypeScript libs do not type it). */
interface WasmMemoryApi {
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
}

/** Buffers of writers that have closed, for the next ones (an export writes shard after shard; GC frees late). */
const spareBuffers: Uint8Array[] = [];

/**
 * DIRECT_BUFFER_BYTES of page-aligned memory: V8 maps a WebAssembly memory page-aligned (an ArrayBuffer's address
 * is malloc's choice).
 */
function takeBuffer(): Uint8Array {
  const spare = spareBuffers.pop();
  if (spare) return spare;
  const wasm = (globalThis as unknown as { WebAssembly: WasmMemoryApi }).WebAssembly;
  return new Uint8Array(new wasm.Memory({ initial: DIRECT_BUFFER_BYTES >> 16 }).buffer);
}

/** `file` opened for direct writes, or undefined where O_DIRECT is missing or the filesystem refuses it. */
async function openDirect(file: string): Promise<FileHandle | undefined> {
  const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
  if (!flag || process.env.LORA_STUDIO_NO_DIRECT_IO === '1') return undefined;
  return open(file, constants.O_WRONLY | flag).catch(() => undefined);
}

/** All of `bytes` at `position` (a single write may be short). */
async function writeAllAt(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
    if (bytesWritten === 0) throw new Error(`a write of ${bytes.byteLength - done} bytes wrote nothing`);
    done += bytesWritten;
  }
}
