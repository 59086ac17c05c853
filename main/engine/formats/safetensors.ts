import type { FileHandle } from 'node:fs/promises';
import { FormatError, StudioError } from '../errors.ts';
import { openRegularFile, withReadTimeout } from '../fs/regular-file.ts';
import { decodeToF32, DTYPE_BYTES, isFloatDType } from './dtypes.ts';
import { countNonFinite, hasNonFinite } from './finite-scan.ts';
import { declaredHeaderSize, MAX_HEADER_BYTES, parseSafetensorsHeader, type HeaderEntry, type ParsedHeader } from './safetensors-header.ts';
import type { TensorInfo, TensorSource } from './tensor-source.ts';

export { MAX_HEADER_BYTES, findDuplicateKey, parseSafetensorsHeader, type ParsedHeader } from './safetensors-header.ts';
export { buildHeader, writeSafetensors, type TensorToWrite } from './safetensors-writer.ts';

/** An open safetensors file: header parsed and checked at open, tensors read one at a time on demand. */
export class SafetensorsFile implements TensorSource {
  private readonly byName: Map<string, HeaderEntry>;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly header: ParsedHeader,
    /** The file's length when it was opened. */
    readonly fileSize: number,
  ) {
    this.byName = new Map(header.entries.map((e) => [e.name, e]));
  }

  /** Reads the 8-byte length and the header, nothing else. */
  static async open(file: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    let size: number;
    try {
      // A regular file only: a FIFO or a device would block the open or never end.
      ({ handle, size } = await openRegularFile(file));
    } catch (e) {
      const code = (e as StudioError).code;
      const why = code === 'fs/enoent' ? 'no such file' : (e as Error).message.replace(`${file}: `, '');
      throw new FormatError(why, file, 'safetensors/open');
    }
    try {
      // The header is read at open, also by the studio process (inspect, the estimate): with a time limit.
      const prefix = await withReadTimeout(readExactly(handle, Math.min(8, size), 0, file), file);
      const n = declaredHeaderSize(prefix);
      // Let the parser reject a short file or a bogus length before we allocate N bytes for it.
      if (n === undefined || n > BigInt(MAX_HEADER_BYTES) || 8n + n > BigInt(size)) parseSafetensorsHeader(prefix, size, file);
      const bytes = new Uint8Array(8 + Number(n));
      bytes.set(prefix);
      await withReadTimeout(readInto(handle, bytes, 8, Number(n), 8, file), file);
      return new SafetensorsFile(file, handle, parseSafetensorsHeader(bytes, size, file), size);
    } catch (e) {
      await handle.close();
      if (e instanceof StudioError) throw e;
      throw new FormatError(`cannot read (${(e as Error).message})`, file, 'safetensors/read');
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** N, the header's declared byte length. */
  get headerSize(): number {
    return this.header.headerSize;
  }

  /** Where tensor data starts in the file (8 + N). */
  get dataOffset(): number {
    return this.header.dataOffset;
  }

  list(): TensorInfo[] {
    return this.header.entries.map(({ name, dtype, shape }) => ({ name, dtype, shape: [...shape] }));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const { dtype, shape } = this.entry(name);
    return { name, dtype, shape: [...shape] };
  }

  /** Where a tensor's bytes lie in the file: [start, end) absolute offsets. */
  byteRange(name: string): [number, number] {
    const e = this.entry(name);
    return [this.dataOffset + e.begin, this.dataOffset + e.end];
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    return this.readRange(name, e.begin, e.end);
  }

  async readRawRows(name: string, start: number, end: number): Promise<Uint8Array> {
    const [begin, stop] = this.rowRange(name, start, end);
    return this.readRange(name, begin, stop);
  }

  async readRawRowsInto(name: string, start: number, end: number, into: Uint8Array): Promise<Uint8Array> {
    const [begin, stop] = this.rowRange(name, start, end);
    if (into.byteLength !== stop - begin)
      throw new RangeError(`tensor ${name}: rows [${start}, ${end}) are ${stop - begin} bytes, not ${into.byteLength}`);
    return this.readRange(name, begin, stop, into);
  }

  async readF32(name: string): Promise<Float32Array> {
    return decodeToF32(await this.readRaw(name), this.floatDtype(name));
  }

  async readF32Rows(name: string, start: number, end: number): Promise<Float32Array> {
    return decodeToF32(await this.readRawRows(name, start, end), this.floatDtype(name));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private floatDtype(name: string) {
    const { dtype } = this.entry(name);
    if (!isFloatDType(dtype)) {
      throw new FormatError(
        `tensor ${name}: dtype ${dtype} is not a float type (readF32 reads F32, F16, BF16, F64)`,
        this.path,
        'safetensors/dtype',
      );
    }
    return dtype;
  }

  /** A tensor's rows [start, end) as bytes [begin, end) of the data buffer. */
  private rowRange(name: string, start: number, end: number): [number, number] {
    const e = this.entry(name);
    const rows = e.shape.length ? e.shape[0] : 1;
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= rows)) {
      throw new FormatError(`tensor ${name}: rows [${start}, ${end}) are outside its ${rows} rows`, this.path, 'safetensors/rows');
    }
    const rowBytes = rows ? (e.end - e.begin) / rows : 0;
    return [e.begin + start * rowBytes, e.begin + end * rowBytes];
  }

  /**
   * Bytes [begin, end) of the data buffer, into `into` when given. Float bytes are scanned for NaN and ±Inf as they
   * are read (finite-scan.ts): every reader of weights (training, generation, merge, every export) refuses them.
   */
  private async readRange(name: string, begin: number, end: number, into?: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new StudioError(`tensor ${name}: the file was already closed`, this.path, 'safetensors/closed');
    let bytes: Uint8Array;
    try {
      if (into) {
        await readInto(this.handle, into, 0, end - begin, this.dataOffset + begin, this.path, `tensor ${name}: `);
        bytes = into;
      } else bytes = await readExactly(this.handle, end - begin, this.dataOffset + begin, this.path, `tensor ${name}: `);
    } catch (err) {
      if (err instanceof StudioError) throw err;
      // e.g. a tensor too large for one typed array, or an I/O error
      throw new FormatError(`tensor ${name}: cannot read ${end - begin} bytes (${(err as Error).message})`, this.path, 'safetensors/read');
    }
    const { dtype } = this.entry(name);
    if (hasNonFinite(bytes.subarray(0, end - begin), dtype)) throw await this.nonFiniteError(name);
    return bytes;
  }

  /** The whole tensor's NaN and ±Inf counted (read again in pieces of rows), for one message naming it. */
  private async nonFiniteError(name: string): Promise<FormatError> {
    const e = this.entry(name);
    const rows = e.shape.length ? e.shape[0] : 1;
    const cols = e.shape.length > 1 ? e.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const rowBytes = cols * DTYPE_BYTES[e.dtype];
    const step = Math.max(1, Math.floor(NON_FINITE_COUNT_CHUNK / Math.max(rowBytes, 1)));
    let count = 0;
    let nan = 0;
    let inf = 0;
    let first = -1;
    for (let r = 0; r < rows; r += step) {
      const stop = Math.min(rows, r + step);
      const bytes = await readExactly(this.handle, (stop - r) * rowBytes, this.dataOffset + e.begin + r * rowBytes, this.path);
      const c = countNonFinite(bytes, e.dtype);
      if (first < 0 && c.first >= 0) first = r * cols + c.first;
      count += c.count;
      nan += c.nan;
      inf += c.posInf + c.negInf;
    }
    const at = e.shape.length > 1 ? `[${Math.floor(first / cols)}, ${first % cols}]` : `[${first}]`;
    return new FormatError(
      `tensor ${name} holds ${count} non-finite value${count === 1 ? '' : 's'} (${nan} NaN, ${inf} ±Inf; the first at ${at}); ` +
        'weights with NaN or Inf make every output NaN, so they are refused: this file is damaged or was saved from a diverged run',
      this.path,
      'tensor/non-finite',
    );
  }

  private entry(name: string): HeaderEntry {
    const e = this.byName.get(name);
    if (!e) throw new FormatError(`no tensor named ${name}`, this.path, 'safetensors/no-tensor');
    return e;
  }
}

export function openSafetensors(file: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(file);
}

/** The piece a non-finite count reads at a time. */
const NON_FINITE_COUNT_CHUNK = 64 << 20;

/** Node refuses single reads over 2 GiB - 1; a big tensor (an F32 Llama-3 embedding is 2.1 GB) is read in pieces. */
const MAX_READ_CHUNK = 1 << 30;

/** Exactly `length` bytes at `position`, with positioned reads; a file that ends early is a FormatError. */
async function readExactly(handle: FileHandle, length: number, position: number, file: string, context = ''): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await readInto(handle, out, 0, length, position, file, context);
  return out;
}

async function readInto(
  handle: FileHandle,
  out: Uint8Array,
  offset: number,
  length: number,
  position: number,
  file: string,
  context = '',
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, offset + done, Math.min(length - done, MAX_READ_CHUNK), position + done);
    if (bytesRead === 0)
      throw new FormatError(
        `${context}file ended after ${position + done} bytes (did it change since it was opened?)`,
        file,
        'safetensors/truncated',
      );
    done += bytesRead;
  }
}
