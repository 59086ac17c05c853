import { open } from 'node:fs/promises';
import { FormatError } from '../errors.ts';
import { withFsErrors } from '../fs/fs-errors.ts';
import { decodeToF32 } from './dtypes.ts';
import { GGML_BLOCK, GGML_MAX_NAME, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, GgufValueType, ggmlTensorBytes } from './gguf-types.ts';
import { dequantizeQ8_0 } from './q8-0.ts';

/** Counts beyond these are refused as absurd before anything is allocated (a 1M-token vocabulary is fine). */
const MAX_COUNT = 1 << 24;
const MAX_STRING = 1 << 28;

type GgufScalar = number | bigint | boolean | string;
interface GgufTensorInfo {
  name: string;
  /** PyTorch order (outermost first). */
  shape: number[];
  type: GgmlType;
  /** Relative to the data section. */
  offset: number;
  bytes: number;
}

interface GgufFile {
  file: string;
  version: number;
  metadata: Map<string, GgufScalar | GgufScalar[]>;
  /** Each key's value type (for arrays: ARRAY) and, for arrays, the element type. */
  valueTypes: Map<string, { type: GgufValueType; itemType?: GgufValueType }>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute file offset of the data section. */
  dataOffset: number;
  /** A tensor's bytes as stored. */
  readRaw(name: string): Promise<Uint8Array>;
  /** A tensor's values as f32 (F32, F16 and Q8_0 are decoded). */
  readF32(name: string): Promise<Float32Array>;
}

type Fail = (code: string, msg: string) => never;

class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(
    private readonly buf: Uint8Array,
    private readonly fail: Fail,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  need(n: number) {
    if (this.pos + n > this.buf.length) this.fail('truncated', `file ends inside the header (at byte ${this.pos}, ${n} more needed)`);
  }
  private take<T>(n: number, get: (at: number) => T): T {
    this.need(n);
    const v = get(this.pos);
    this.pos += n;
    return v;
  }
  u8 = () => this.take(1, (p) => this.view.getUint8(p));
  i8 = () => this.take(1, (p) => this.view.getInt8(p));
  u16 = () => this.take(2, (p) => this.view.getUint16(p, true));
  i16 = () => this.take(2, (p) => this.view.getInt16(p, true));
  u32 = () => this.take(4, (p) => this.view.getUint32(p, true));
  i32 = () => this.take(4, (p) => this.view.getInt32(p, true));
  f32 = () => this.take(4, (p) => this.view.getFloat32(p, true));
  f64 = () => this.take(8, (p) => this.view.getFloat64(p, true));
  u64 = () => this.take(8, (p) => this.view.getBigUint64(p, true));
  i64 = () => this.take(8, (p) => this.view.getBigInt64(p, true));
  count(what: string) {
    const n = this.u64();
    if (n > BigInt(MAX_COUNT)) this.fail('absurd-count', `${what} ${n} is absurd (more than ${MAX_COUNT})`);
    return Number(n);
  }
  string() {
    const n = this.u64();
    if (n > BigInt(MAX_STRING)) this.fail('absurd-count', `string length ${n} at byte ${this.pos - 8} is absurd`);
    this.need(Number(n));
    // Not fatal on bad UTF-8: some real vocabularies hold partial UTF-8 sequences as tokens.
    const s = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(this.buf.subarray(this.pos, this.pos + Number(n)));
    this.pos += Number(n);
    return s;
  }
}

function readValue(c: Cursor, type: number, key: string, fail: Fail): GgufScalar | GgufScalar[] {
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8();
    case GgufValueType.INT8:
      return c.i8();
    case GgufValueType.UINT16:
      return c.u16();
    case GgufValueType.INT16:
      return c.i16();
    case GgufValueType.UINT32:
      return c.u32();
    case GgufValueType.INT32:
      return c.i32();
    case GgufValueType.FLOAT32:
      return c.f32();
    case GgufValueType.BOOL: {
      const b = c.u8();
      if (b > 1) fail('value', `key ${key}: bool byte ${b} is neither 0 nor 1`);
      return b === 1;
    }
    case GgufValueType.STRING:
      return c.string();
    case GgufValueType.UINT64:
      return c.u64();
    case GgufValueType.INT64:
      return c.i64();
    case GgufValueType.FLOAT64:
      return c.f64();
    case GgufValueType.ARRAY: {
      const itemType = c.u32();
      if (itemType === GgufValueType.ARRAY) fail('value-type', `key ${key}: arrays of arrays are not supported`);
      const n = c.count(`key ${key}: array length`);
      const out: GgufScalar[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, itemType, key, fail) as GgufScalar;
      return out;
    }
    default:
      return fail('value-type', `key ${key}: unknown value type ${type}`);
  }
}

/**
 * Read a GGUF file's header strictly (our independent check of what we write, and of files we are given).
 * Refused, each as a FormatError naming the file: bad magic, unknown versions, absurd counts, duplicate keys or
 * tensor names, more than 4 dims, unknown tensor types, rows that are not whole blocks, a bad general.alignment,
 * misaligned offsets or offsets that do not follow one another as llama.cpp requires, and too little data.
 * Tensor data is read lazily, one tensor per call.
 */
export async function readGguf(file: string): Promise<GgufFile> {
  const fail: Fail = (code, msg) => {
    throw new FormatError(msg, file, `gguf/${code}`);
  };
  const handle = await withFsErrors(file, 'read', () => open(file, 'r'));
  let size: number;
  let parsed: ReturnType<typeof parseHeader>;
  try {
    size = (await handle.stat()).size;
    // The header is small next to the tensors: read it in growing chunks until it parses.
    let buf = new Uint8Array(Math.min(size, 1 << 20));
    await handle.read(buf, 0, buf.length, 0);
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
  } finally {
    await handle.close();
  }
  const { version, metadata, valueTypes, tensors, headerEnd } = parsed;
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (metadata.has('general.alignment')) {
    // llama.cpp reads it with gguf_get_val_u32 (which asserts the type) and wants a power of two.
    const v = metadata.get('general.alignment');
    if (valueTypes.get('general.alignment')?.type !== GgufValueType.UINT32) fail('alignment', 'general.alignment is not a u32');
    alignment = v as number;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) fail('alignment', `general.alignment ${alignment} is not a power of two`);
  }
  const dataOffset = Math.ceil(headerEnd / alignment) * alignment;
  let expected = 0;
  for (const t of tensors) {
    if (t.offset % alignment !== 0)
      fail('misaligned', `tensor ${t.name}: offset ${t.offset} is not a multiple of the alignment ${alignment}`);
    if (t.offset !== expected)
      fail(
        'offset',
        `tensor ${t.name}: offset ${t.offset}, but the tensors before it end at ${expected} (llama.cpp wants them packed in order)`,
      );
    if (dataOffset + t.offset + t.bytes > size) {
      fail(
        'too-little-data',
        `tensor ${t.name}: its data (bytes ${dataOffset + t.offset}..${dataOffset + t.offset + t.bytes}) runs past the end of the file (${size} bytes)`,
      );
    }
    expected = t.offset + t.bytes + ((alignment - (t.bytes % alignment)) % alignment);
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const readRaw = async (name: string) => {
    const t = byName.get(name) ?? fail('no-tensor', `no tensor named ${name}`);
    const h = await open(file, 'r');
    try {
      const bytes = new Uint8Array(t.bytes);
      const { bytesRead } = await h.read(bytes, 0, t.bytes, dataOffset + t.offset);
      if (bytesRead !== t.bytes) fail('too-little-data', `tensor ${name}: read ${bytesRead} of ${t.bytes} bytes`);
      return bytes;
    } finally {
      await h.close();
    }
  };
  return {
    file,
    version,
    metadata,
    valueTypes,
    tensors,
    alignment,
    dataOffset,
    readRaw,
    readF32: async (name: string) => {
      const bytes = await readRaw(name);
      const t = byName.get(name)!;
      if (t.type === GgmlType.Q8_0)
        return dequantizeQ8_0(
          bytes,
          t.shape.reduce((a, b) => a * b, 1),
        );
      return decodeToF32(bytes, t.type === GgmlType.F16 ? 'F16' : 'F32');
    },
  };
}

function parseHeader(buf: Uint8Array, fail: Fail) {
  const c = new Cursor(buf, fail);
  if (c.u32() !== GGUF_MAGIC) fail('magic', 'not a GGUF file (the first 4 bytes are not "GGUF")');
  const version = c.u32();
  if (version !== 2 && version !== 3) fail('version', `GGUF version ${version} is not supported (2 or 3)`);
  const tensorCount = c.count('tensor count');
  const kvCount = c.count('key-value count');
  const metadata = new Map<string, GgufScalar | GgufScalar[]>();
  const valueTypes = new Map<string, { type: GgufValueType; itemType?: GgufValueType }>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string();
    if (metadata.has(key)) fail('duplicate-key', `key ${key} appears twice`);
    const type = c.u32();
    const start = c.pos;
    metadata.set(key, readValue(c, type, key, fail));
    valueTypes.set(
      key,
      type === GgufValueType.ARRAY ? { type, itemType: new DataView(buf.buffer, buf.byteOffset + start, 4).getUint32(0, true) } : { type },
    );
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string();
    if (names.has(name)) fail('duplicate-tensor', `tensor ${name} appears twice`);
    names.add(name);
    if (new TextEncoder().encode(name).length >= GGML_MAX_NAME) fail('name', `tensor name ${name} is ${GGML_MAX_NAME} bytes or longer`);
    const nDims = c.u32();
    if (nDims > 4) fail('dims', `tensor ${name} has ${nDims} dims (at most 4)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = c.u64();
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('absurd-count', `tensor ${name}: dimension ${v} is absurd`);
      dims.push(Number(v));
    }
    const type = c.u32();
    if (!(type in GGML_BLOCK)) fail('tensor-type', `tensor ${name}: ggml type ${type} is not supported (F32=0, F16=1, Q8_0=8)`);
    const offset = c.u64();
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) fail('absurd-count', `tensor ${name}: offset ${offset} is absurd`);
    const elements = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements)) fail('absurd-count', `tensor ${name}: element count overflows`);
    const block = GGML_BLOCK[type as GgmlType];
    if ((dims[0] ?? 1) % block.values !== 0)
      fail(
        'tensor-size',
        `tensor ${name}: rows of ${dims[0]} values are not a multiple of the ${block.values}-value block of ${GgmlType[type]}`,
      );
    tensors.push({
      name,
      shape: dims.reverse(),
      type: type as GgmlType,
      offset: Number(offset),
      bytes: ggmlTensorBytes(type as GgmlType, elements),
    });
  }
  return { version, metadata, valueTypes, tensors, headerEnd: c.pos };
}
