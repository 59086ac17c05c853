import { open } from 'node:fs/promises';
import { FormatError } from '../errors.ts';
import { decodeToF32 } from './dtypes.ts';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, GgufValueType, ggmlTensorBytes } from './gguf-types.ts';
import { dequantizeQ8_0 } from './q8-0.ts';

/** Counts beyond these are refused as absurd before anything is allocated. */
const MAX_COUNT = 1 << 24;
const MAX_STRING = 1 << 28;

export type GgufScalar = number | bigint | boolean | string;
export interface GgufTensorInfo {
  name: string;
  /** PyTorch order (outermost first). */
  shape: number[];
  type: GgmlType;
  /** Relative to the data section. */
  offset: number;
  bytes: number;
}

export interface GgufFile {
  file: string;
  version: number;
  metadata: Map<string, GgufScalar | GgufScalar[]>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataOffset: number;
  /** A tensor's values as f32 (F32, F16 and Q8_0 are decoded). */
  readF32(name: string): Promise<Float32Array>;
}

class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly fail: (code: string, msg: string) => never,
  ) {}
  private view = () => new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  need(n: number) {
    if (this.pos + n > this.buf.length) this.fail('truncated', `file ends inside the header (at byte ${this.pos}, needed ${n} more)`);
  }
  u8() { this.need(1); return this.view().getUint8(this.pos++); }
  i8() { this.need(1); return this.view().getInt8(this.pos++); }
  u16() { this.need(2); const v = this.view().getUint16(this.pos, true); this.pos += 2; return v; }
  i16() { this.need(2); const v = this.view().getInt16(this.pos, true); this.pos += 2; return v; }
  u32() { this.need(4); const v = this.view().getUint32(this.pos, true); this.pos += 4; return v; }
  i32() { this.need(4); const v = this.view().getInt32(this.pos, true); this.pos += 4; return v; }
  f32() { this.need(4); const v = this.view().getFloat32(this.pos, true); this.pos += 4; return v; }
  f64() { this.need(8); const v = this.view().getFloat64(this.pos, true); this.pos += 8; return v; }
  u64() { this.need(8); const v = this.view().getBigUint64(this.pos, true); this.pos += 8; return v; }
  i64() { this.need(8); const v = this.view().getBigInt64(this.pos, true); this.pos += 8; return v; }
  count(what: string) {
    const n = this.u64();
    if (n > BigInt(MAX_COUNT)) this.fail('absurd-count', `${what} ${n} is absurd`);
    return Number(n);
  }
  string() {
    const n = this.u64();
    if (n > BigInt(MAX_STRING)) this.fail('absurd-count', `string length ${n} is absurd`);
    this.need(Number(n));
    const s = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(this.buf.subarray(this.pos, this.pos + Number(n)));
    this.pos += Number(n);
    return s;
  }
}

function readValue(c: Cursor, type: number, fail: (code: string, msg: string) => never): GgufScalar | GgufScalar[] {
  switch (type) {
    case GgufValueType.UINT8: return c.u8();
    case GgufValueType.INT8: return c.i8();
    case GgufValueType.UINT16: return c.u16();
    case GgufValueType.INT16: return c.i16();
    case GgufValueType.UINT32: return c.u32();
    case GgufValueType.INT32: return c.i32();
    case GgufValueType.FLOAT32: return c.f32();
    case GgufValueType.BOOL: return c.u8() !== 0;
    case GgufValueType.STRING: return c.string();
    case GgufValueType.UINT64: return c.u64();
    case GgufValueType.INT64: return c.i64();
    case GgufValueType.FLOAT64: return c.f64();
    case GgufValueType.ARRAY: {
      const itemType = c.u32();
      if (itemType === GgufValueType.ARRAY) fail('nested-array', 'arrays of arrays are not supported');
      const n = c.count('array length');
      const out: GgufScalar[] = [];
      for (let i = 0; i < n; i++) out.push(readValue(c, itemType, fail) as GgufScalar);
      return out;
    }
    default:
      return fail('value-type', `unknown value type ${type}`);
  }
}

/**
 * Read a GGUF file's header strictly (our independent check of what we write, and of files we are given):
 * bad magic, unknown versions, absurd counts, duplicate keys or tensor names, more than 4 dims, unknown types,
 * misaligned or out-of-range offsets and too little data are all FormatErrors naming the file.
 */
export async function readGguf(file: string): Promise<GgufFile> {
  const fail = (code: string, msg: string): never => {
    throw new FormatError(msg, file, `gguf/${code}`);
  };
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    // The header is read in growing chunks: it is small next to the tensors.
    let buf = new Uint8Array(Math.min(size, 1 << 20));
    await handle.read(buf, 0, buf.length, 0);
    let parsed: ReturnType<typeof parseHeader> | undefined;
    for (;;) {
      try {
        parsed = parseHeader(buf, fail);
        break;
      } catch (e) {
        if (!(e instanceof FormatError) || e.code !== 'gguf/truncated' || buf.length >= size) throw e;
        buf = new Uint8Array(Math.min(size, buf.length * 4));
        await handle.read(buf, 0, buf.length, 0);
      }
    }
    const { version, metadata, tensors, headerEnd } = parsed;
    const alignment = Number(metadata.get('general.alignment') ?? GGUF_DEFAULT_ALIGNMENT);
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) fail('alignment', `general.alignment ${alignment} is not a positive multiple of 8`);
    const dataOffset = Math.ceil(headerEnd / alignment) * alignment;
    for (const t of tensors) {
      if (t.offset % alignment !== 0) fail('misaligned', `tensor ${t.name}: offset ${t.offset} is not a multiple of ${alignment}`);
      if (dataOffset + t.offset + t.bytes > size) fail('out-of-range', `tensor ${t.name}: data runs past the end of the file`);
    }
    const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].bytes) fail('overlap', `tensor ${sorted[i].name} overlaps ${sorted[i - 1].name}`);
    }
    return {
      file,
      version,
      metadata,
      tensors,
      alignment,
      dataOffset,
      readF32: async (name: string) => {
        const t = tensors.find((x) => x.name === name) ?? fail('no-tensor', `no tensor named ${name}`);
        const h = await open(file, 'r');
        try {
          const bytes = new Uint8Array(t.bytes);
          await h.read(bytes, 0, t.bytes, dataOffset + t.offset);
          const n = t.shape.reduce((a, b) => a * b, 1);
          if (t.type === GgmlType.Q8_0) return dequantizeQ8_0(bytes, n);
          return decodeToF32(bytes, t.type === GgmlType.F16 ? 'F16' : 'F32');
        } finally {
          await h.close();
        }
      },
    };
  } finally {
    await handle.close();
  }
}

function parseHeader(buf: Uint8Array, fail: (code: string, msg: string) => never) {
  const c = new Cursor(buf, fail);
  if (c.u32() !== GGUF_MAGIC) fail('magic', 'not a GGUF file (bad magic)');
  const version = c.u32();
  if (version !== 2 && version !== 3) fail('version', `GGUF version ${version} is not supported (2 or 3)`);
  const tensorCount = c.count('tensor count');
  const kvCount = c.count('key-value count');
  const metadata = new Map<string, GgufScalar | GgufScalar[]>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string();
    if (metadata.has(key)) fail('duplicate-key', `key ${key} appears twice`);
    metadata.set(key, readValue(c, c.u32(), fail));
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string();
    if (names.has(name)) fail('duplicate-tensor', `tensor ${name} appears twice`);
    names.add(name);
    const nDims = c.u32();
    if (nDims < 1 || nDims > 4) fail('dims', `tensor ${name} has ${nDims} dims (1 to 4 allowed)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = c.u64();
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('absurd-count', `tensor ${name}: dimension ${v} is absurd`);
      dims.push(Number(v));
    }
    const type = c.u32();
    if (!(type in GgmlType)) fail('tensor-type', `tensor ${name}: ggml type ${type} is not supported (F32, F16, Q8_0)`);
    const offset = Number(c.u64());
    const elements = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements)) fail('absurd-count', `tensor ${name}: element count overflows`);
    let bytes = 0;
    try {
      bytes = ggmlTensorBytes(type as GgmlType, elements);
    } catch (e) {
      fail('tensor-size', `tensor ${name}: ${(e as Error).message}`);
    }
    tensors.push({ name, shape: dims.reverse(), type: type as GgmlType, offset, bytes });
  }
  return { version, metadata, tensors, headerEnd: c.pos };
}
