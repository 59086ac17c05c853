import { FormatError } from '../errors.ts';
import { withAtomicStream } from '../fs/atomic-write.ts';
import { writePieces, type TensorBytes, type WriteAheadOptions } from './piece-writer.ts';
import {
  GGML_BLOCK,
  GGML_MAX_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgufValueType,
  ggmlTensorBytes,
  type GgmlType,
  type GgufValue,
} from './gguf-types.ts';

export interface GgufTensorToWrite {
  name: string;
  /** PyTorch order (outermost first); written innermost first as GGUF wants. */
  shape: number[];
  type: GgmlType;
  /** The encoded bytes, made when their turn comes: whole, or as pieces in order (rows at a time). */
  data: () => TensorBytes | Promise<TensorBytes>;
}

/** Little-endian byte builder for the header part (KVs and tensor infos are small next to the data). */
class ByteWriter {
  private chunks: Uint8Array[] = [];
  length = 0;

  private push(bytes: Uint8Array) {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }
  private fixed(n: number, set: (v: DataView) => void) {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    this.push(b);
  }
  u8 = (v: number) => this.fixed(1, (d) => d.setUint8(0, v));
  i8 = (v: number) => this.fixed(1, (d) => d.setInt8(0, v));
  u16 = (v: number) => this.fixed(2, (d) => d.setUint16(0, v, true));
  i16 = (v: number) => this.fixed(2, (d) => d.setInt16(0, v, true));
  u32 = (v: number) => this.fixed(4, (d) => d.setUint32(0, v, true));
  i32 = (v: number) => this.fixed(4, (d) => d.setInt32(0, v, true));
  f32 = (v: number) => this.fixed(4, (d) => d.setFloat32(0, v, true));
  f64 = (v: number) => this.fixed(8, (d) => d.setFloat64(0, v, true));
  u64 = (v: number | bigint) => this.fixed(8, (d) => d.setBigUint64(0, BigInt(v), true));
  i64 = (v: number | bigint) => this.fixed(8, (d) => d.setBigInt64(0, BigInt(v), true));
  string(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.push(b);
  }
  zeros(n: number) {
    if (n > 0) this.push(new Uint8Array(n));
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** Integer ranges of the integer value types; a value outside would be silently wrapped by DataView. */
const INT_RANGE: Partial<Record<GgufValueType, [bigint, bigint]>> = {
  [GgufValueType.UINT8]: [0n, 0xffn],
  [GgufValueType.INT8]: [-0x80n, 0x7fn],
  [GgufValueType.UINT16]: [0n, 0xffffn],
  [GgufValueType.INT16]: [-0x8000n, 0x7fffn],
  [GgufValueType.UINT32]: [0n, 0xffffffffn],
  [GgufValueType.INT32]: [-0x80000000n, 0x7fffffffn],
  [GgufValueType.UINT64]: [0n, (1n << 64n) - 1n],
  [GgufValueType.INT64]: [-(1n << 63n), (1n << 63n) - 1n],
};

function checkScalar(type: GgufValueType, v: unknown, where: string, file: string): void {
  const bad = (what: string): never => {
    throw new FormatError(`${where}: ${what}`, file, 'gguf/value');
  };
  const range = INT_RANGE[type];
  if (range) {
    const isInt = typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v));
    if (!isInt) return bad(`${String(v)} is not an integer (type ${GgufValueType[type]})`);
    const b = BigInt(v as number | bigint);
    if (b < range[0] || b > range[1]) bad(`${String(v)} is out of range for ${GgufValueType[type]}`);
  } else if (type === GgufValueType.FLOAT32 || type === GgufValueType.FLOAT64) {
    if (typeof v !== 'number') bad(`${String(v)} is not a number`);
  } else if (type === GgufValueType.BOOL) {
    if (typeof v !== 'boolean') bad(`${String(v)} is not a boolean`);
  } else if (type === GgufValueType.STRING) {
    if (typeof v !== 'string') bad(`${String(v)} is not a string`);
  } else bad(`value type ${type} cannot be written here`);
}

function writeScalar(w: ByteWriter, type: GgufValueType, v: number | string | boolean | bigint): void {
  switch (type) {
    case GgufValueType.UINT8:
      return w.u8(Number(v));
    case GgufValueType.INT8:
      return w.i8(Number(v));
    case GgufValueType.UINT16:
      return w.u16(Number(v));
    case GgufValueType.INT16:
      return w.i16(Number(v));
    case GgufValueType.UINT32:
      return w.u32(Number(v));
    case GgufValueType.INT32:
      return w.i32(Number(v));
    case GgufValueType.FLOAT32:
      return w.f32(Number(v));
    case GgufValueType.BOOL:
      return w.u8(v ? 1 : 0);
    case GgufValueType.STRING:
      return w.string(String(v));
    case GgufValueType.UINT64:
      return w.u64(v as number | bigint);
    case GgufValueType.INT64:
      return w.i64(v as number | bigint);
    case GgufValueType.FLOAT64:
      return w.f64(Number(v));
    default:
      throw new Error(`GGUF: value type ${type} cannot be an array element`);
  }
}

/** The alignment a file declares: llama.cpp reads `general.alignment` as a u32 and wants a power of two. */
function alignmentOf(kvs: [string, GgufValue][], file: string): number {
  const kv = kvs.find(([k]) => k === 'general.alignment');
  if (!kv) return GGUF_DEFAULT_ALIGNMENT;
  const v = kv[1];
  if (v.type !== GgufValueType.UINT32 || !Number.isInteger(v.value) || v.value <= 0 || (v.value & (v.value - 1)) !== 0) {
    throw new FormatError(
      `general.alignment must be a u32 power of two, got ${JSON.stringify(String(v.value))} (type ${v.type})`,
      file,
      'gguf/alignment',
    );
  }
  return v.value;
}

/**
 * Write a GGUF v3 file: header, KVs, tensor infos, zero padding to the alignment, then each tensor's data at an
 * aligned offset, each followed by zero padding (the last one too: ggml's own reader reads the padded total).
 * Tensors are encoded by their `data` callbacks (whole or in pieces), the next pieces while the current one is
 * written (`lookahead`). Written through a temp file, fsynced and renamed,
 * so a failure leaves no partial file behind.
 */
export async function writeGguf(
  file: string,
  kvs: [string, GgufValue][],
  tensors: GgufTensorToWrite[],
  opts: WriteAheadOptions & {
    /** Called after tensor i's bytes (and padding) are written. */
    onTensorWritten?: (i: number) => void;
  } = {},
): Promise<{ bytes: number; dataOffset: number; offsets: number[] }> {
  const alignment = alignmentOf(kvs, file);
  const keys = new Set<string>();
  for (const [k, v] of kvs) {
    if (keys.has(k)) throw new FormatError(`key ${k} given twice`, file, 'gguf/duplicate-key');
    keys.add(k);
    if (v.type === GgufValueType.ARRAY) {
      if (v.itemType === GgufValueType.ARRAY) throw new FormatError(`key ${k}: arrays of arrays are not written`, file, 'gguf/value');
      v.value.forEach((item, i) => checkScalar(v.itemType, item, `key ${k}[${i}]`, file));
    } else checkScalar(v.type, v.value, `key ${k}`, file);
  }
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const [key, v] of kvs) {
    w.string(key);
    w.u32(v.type);
    if (v.type === GgufValueType.ARRAY) {
      w.u32(v.itemType);
      w.u64(v.value.length);
      for (const item of v.value) writeScalar(w, v.itemType, item);
    } else writeScalar(w, v.type, v.value);
  }
  // Tensor infos: offsets relative to the data section, each the padded end of the one before (llama.cpp
  // requires exactly that order and packing).
  let offset = 0;
  const sizes: number[] = [];
  const offsets: number[] = [];
  const names = new Set<string>();
  for (const t of tensors) {
    const where = `tensor ${t.name}`;
    if (names.has(t.name)) throw new FormatError(`${where} given twice`, file, 'gguf/duplicate-tensor');
    names.add(t.name);
    if (new TextEncoder().encode(t.name).length >= GGML_MAX_NAME)
      throw new FormatError(`${where}: name longer than ${GGML_MAX_NAME - 1} bytes`, file, 'gguf/name');
    if (t.shape.length < 1 || t.shape.length > 4)
      throw new FormatError(`${where} has ${t.shape.length} dims; GGUF allows 1 to 4`, file, 'gguf/dims');
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new FormatError(`${where}: bad shape [${t.shape}]`, file, 'gguf/dims');
    const block = GGML_BLOCK[t.type];
    if (!block) throw new FormatError(`${where}: ggml type ${t.type} is not written`, file, 'gguf/tensor-type');
    const rowLength = t.shape[t.shape.length - 1];
    if (rowLength % block.values !== 0)
      throw new FormatError(
        `${where}: rows of ${rowLength} values are not a multiple of the ${block.values}-value block`,
        file,
        'gguf/tensor-size',
      );
    const size = ggmlTensorBytes(
      t.type,
      t.shape.reduce((a, b) => a * b, 1),
    );
    sizes.push(size);
    offsets.push(offset);
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d); // innermost first
    w.u32(t.type);
    w.u64(offset);
    offset += size + padTo(size, alignment);
  }
  w.zeros(padTo(w.length, alignment));
  const header = w.bytes();
  assert(header.length % alignment === 0, 'the data section starts aligned');
  const written = await withAtomicStream(file, async (out) => {
    await out.write(header);
    await writePieces(
      tensors.length,
      (i) => tensors[i].data(),
      {
        expectedBytes: (i) => sizes[i],
        notBytes: (i, got) => new FormatError(`tensor ${tensors[i].name}: data must be a Uint8Array, got ${got}`, file, 'gguf/size'),
        wrongSize: (i, got) => new FormatError(`tensor ${tensors[i].name}: ${got} bytes given, ${sizes[i]} expected`, file, 'gguf/size'),
        write: (piece) => out.write(piece),
        tensorDone: async (i) => {
          const pad = padTo(sizes[i], alignment);
          if (pad) await out.write(new Uint8Array(pad));
          const end = out.bytesWritten - header.length;
          assert(end === offsets[i] + sizes[i] + pad, `tensor ${tensors[i].name} lands at its declared offset`);
          opts.onTensorWritten?.(i);
        },
      },
      opts,
    );
    assert(out.bytesWritten === header.length + offset, 'the file ends where the tensor infos say');
    return out.bytesWritten;
  });
  return { bytes: written, dataOffset: header.length, offsets };
}

function padTo(n: number, alignment: number): number {
  return (alignment - (n % alignment)) % alignment;
}

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`GGUF writer bug: expected ${what}`);
}
