import { open, type FileHandle } from 'node:fs/promises';
import { FormatError } from '../errors.ts';
import { withAtomicFile } from './atomic-write.ts';
import { DTYPE_BYTES, decodeToF32, isDType } from './dtypes.ts';
import type { DType, TensorInfo, TensorSource } from './tensor-source.ts';

/** Headers beyond this are refused before any allocation (the format's own reference limit). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface HeaderEntry extends TensorInfo {
  /** [begin, end) relative to the data buffer. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  headerSize: number;
  dataOffset: number;
  entries: HeaderEntry[];
  metadata: Record<string, string>;
}

/**
 * Parse and check a safetensors header. `bytes` holds at least the first 8 + N bytes of the file (or all of it);
 * `fileSize` is the whole file's length. Every rule of the format is enforced; the first broken one is thrown
 * as a FormatError naming `file` (and the tensor).
 */
export function parseSafetensorsHeader(bytes: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const fail = (code: string, msg: string): never => {
    throw new FormatError(msg, file, `safetensors/${code}`);
  };
  if (fileSize < 8 || bytes.byteLength < 8) fail('too-short', `file is ${fileSize} bytes; a safetensors file starts with an 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail('header-too-large', `header length ${n} exceeds the 100 MB limit`);
  const headerSize = Number(n);
  if (8 + headerSize > fileSize) fail('header-beyond-file', `header length ${headerSize} runs past the end of the ${fileSize}-byte file`);
  if (bytes.byteLength < 8 + headerSize) fail('header-beyond-file', `header length ${headerSize} runs past the bytes given`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerSize));
  } catch {
    return fail('header-not-utf8', 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail('header-not-json', `header is not valid JSON (${(e as Error).message})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) fail('header-shape', 'header must be a JSON object of tensors');
  const duplicate = firstDuplicateTopLevelKey(text);
  if (duplicate !== undefined) fail('duplicate-key', `header names "${duplicate}" twice`);

  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('metadata', '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail('metadata', `__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('tensor-entry', `tensor ${name}: entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !isDType(dtype)) fail('unknown-dtype', `tensor ${name}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail('shape', `tensor ${name}: shape must be a list of non-negative integers`);
    }
    let elements = 1;
    for (const d of shape as number[]) {
      elements *= d;
      if (!Number.isSafeInteger(elements)) fail('overflow', `tensor ${name}: element count of shape [${shape}] overflows`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0)) {
      fail('offsets', `tensor ${name}: data_offsets must be [begin, end] with non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    const bytesNeeded = elements * DTYPE_BYTES[dtype as DType];
    if (!Number.isSafeInteger(bytesNeeded)) fail('overflow', `tensor ${name}: byte size overflows`);
    if (end < begin || end - begin !== bytesNeeded) {
      fail('size-mismatch', `tensor ${name}: data_offsets [${begin}, ${end}) hold ${end - begin} bytes but ${dtype} [${shape}] needs ${bytesNeeded}`);
    }
    entries.push({ name, dtype: dtype as DType, shape: shape as number[], begin, end });
  }

  // Offsets must tile the buffer from 0 with no gap or overlap, and the buffer must end where the file does.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin !== cursor) {
      fail(e.begin > cursor ? 'gap' : 'overlap', `tensor ${e.name}: data starts at ${e.begin} but the previous tensor ends at ${cursor} (${e.begin > cursor ? 'gap' : 'overlap'})`);
    }
    cursor = e.end;
  }
  const dataOffset = 8 + headerSize;
  const dataSize = fileSize - dataOffset;
  if (cursor < dataSize) fail('trailing-bytes', `${dataSize - cursor} bytes follow the last tensor`);
  if (cursor > dataSize) fail('truncated', `the header describes ${cursor} bytes of data but the file holds ${dataSize}`);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { headerSize, dataOffset, entries, metadata };
}

/**
 * The first key that appears twice at the top level of a JSON object text (JSON.parse keeps the last one
 * silently). The text is already known to be valid JSON, so a small scanner suffices.
 */
function firstDuplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1 && c === '{';
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return undefined;
}

/** An open safetensors file: header parsed and checked at open, tensors read one at a time on demand. */
export class SafetensorsFile implements TensorSource {
  private readonly byName: Map<string, HeaderEntry>;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly header: ParsedHeader,
  ) {
    this.byName = new Map(header.entries.map((e) => [e.name, e]));
  }

  static async open(file: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (e) {
      throw new FormatError(`cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file, 'safetensors/open');
    }
    try {
      const { size } = await handle.stat();
      const prefix = new Uint8Array(Math.min(8, size));
      await handle.read(prefix, 0, prefix.length, 0);
      const n = size >= 8 ? new DataView(prefix.buffer).getBigUint64(0, true) : 0n;
      // Check the declared header size against the limit and the file before allocating that much.
      if (size < 8 || n > BigInt(MAX_HEADER_BYTES) || 8n + n > BigInt(size)) parseSafetensorsHeader(prefix, size, file);
      const bytes = new Uint8Array(8 + Number(n));
      bytes.set(prefix);
      await handle.read(bytes, 8, Number(n), 8);
      return new SafetensorsFile(file, handle, parseSafetensorsHeader(bytes, size, file));
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  list(): TensorInfo[] {
    return this.header.entries.map(({ name, dtype, shape }) => ({ name, dtype, shape }));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const { dtype, shape } = this.entry(name);
    return { name, dtype, shape };
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    const out = new Uint8Array(e.end - e.begin);
    let done = 0;
    while (done < out.length) {
      const { bytesRead } = await this.handle.read(out, done, out.length - done, this.header.dataOffset + e.begin + done);
      if (bytesRead === 0) throw new FormatError(`tensor ${name}: file ended early`, this.path, 'safetensors/truncated');
      done += bytesRead;
    }
    return out;
  }

  async readF32(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    if (!['F32', 'F16', 'BF16', 'F64'].includes(e.dtype)) {
      throw new FormatError(`tensor ${name}: dtype ${e.dtype} is not a float type`, this.path, 'safetensors/dtype');
    }
    return decodeToF32(await this.readRaw(name), e.dtype);
  }

  async close(): Promise<void> {
    await this.handle.close();
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

export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: number[];
  /** The bytes, or a function that makes them when their turn comes (one tensor in memory at a time). */
  data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

export interface WriteHooks {
  /** Called after each tensor's bytes are written (tests inject failures here). */
  afterTensor?(name: string): void | Promise<void>;
}

/** Header JSON for tensors (sorted by name), padded with spaces to a multiple of 8. */
export function buildHeader(tensors: TensorToWrite[], metadata?: Record<string, string>): { header: Uint8Array; dataBytes: number; order: TensorToWrite[] } {
  const order = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) obj.__metadata__ = metadata;
  let offset = 0;
  const names = new Set<string>();
  for (const t of order) {
    if (names.has(t.name)) throw new FormatError(`tensor ${t.name} given twice`, undefined, 'safetensors/duplicate-key');
    names.add(t.name);
    const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    obj[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(obj);
  const raw = new TextEncoder().encode(json);
  json += ' '.repeat((8 - (raw.length % 8)) % 8);
  return { header: new TextEncoder().encode(json), dataBytes: offset, order };
}

/** Write a safetensors file atomically (temp file, fsync, rename), producing tensors one at a time. */
export async function writeSafetensors(
  file: string,
  tensors: TensorToWrite[],
  opts: { metadata?: Record<string, string>; hooks?: WriteHooks } = {},
): Promise<void> {
  const { header, order } = buildHeader(tensors, opts.metadata);
  await withAtomicFile(file, async (handle) => {
    const length = new Uint8Array(8);
    new DataView(length.buffer).setBigUint64(0, BigInt(header.length), true);
    await handle.write(length);
    await handle.write(header);
    for (const t of order) {
      const bytes = typeof t.data === 'function' ? await t.data() : t.data;
      const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
      if (bytes.byteLength !== expected) {
        throw new FormatError(`tensor ${t.name}: got ${bytes.byteLength} bytes, ${t.dtype} [${t.shape}] needs ${expected}`, file, 'safetensors/size-mismatch');
      }
      await handle.write(bytes);
      await opts.hooks?.afterTensor?.(t.name);
    }
  });
}
