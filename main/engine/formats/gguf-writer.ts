import { FormatError } from '../errors.ts';
import { withAtomicFile } from './atomic-write.ts';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgufValueType, ggmlTensorBytes, type GgmlType, type GgufValue } from './gguf-types.ts';

export interface GgufTensorToWrite {
  name: string;
  /** PyTorch order (outermost first); written innermost first as GGUF wants. */
  shape: number[];
  type: GgmlType;
  /** The encoded bytes, made when their turn comes so only one tensor is in memory. */
  data: () => Uint8Array | Promise<Uint8Array>;
}

/** Little-endian byte builder for the header part. */
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

function writeScalar(w: ByteWriter, type: GgufValueType, v: number | string | boolean | bigint): void {
  switch (type) {
    case GgufValueType.UINT8: return w.u8(Number(v));
    case GgufValueType.INT8: return w.i8(Number(v));
    case GgufValueType.UINT16: return w.u16(Number(v));
    case GgufValueType.INT16: return w.i16(Number(v));
    case GgufValueType.UINT32: return w.u32(Number(v));
    case GgufValueType.INT32: return w.i32(Number(v));
    case GgufValueType.FLOAT32: return w.f32(Number(v));
    case GgufValueType.BOOL: return w.u8(v ? 1 : 0);
    case GgufValueType.STRING: return w.string(String(v));
    case GgufValueType.UINT64: return w.u64(v as number | bigint);
    case GgufValueType.INT64: return w.i64(v as number | bigint);
    case GgufValueType.FLOAT64: return w.f64(Number(v));
    default: throw new Error(`GGUF: value type ${type} cannot be an array element here`);
  }
}

/**
 * Write a GGUF v3 file: header, KVs, tensor infos, zero padding to the alignment, then each tensor's data at an
 * aligned offset. Written through a temp file and renamed, so a failure leaves no partial file behind.
 */
export async function writeGguf(file: string, kvs: [string, GgufValue][], tensors: GgufTensorToWrite[]): Promise<{ bytes: number }> {
  const alignmentKv = kvs.find(([k]) => k === 'general.alignment');
  const alignment = alignmentKv ? Number(alignmentKv[1].value) : GGUF_DEFAULT_ALIGNMENT;
  const keys = new Set<string>();
  for (const [k] of kvs) {
    if (keys.has(k)) throw new FormatError(`key ${k} given twice`, file, 'gguf/duplicate-key');
    keys.add(k);
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
  // Tensor infos: offsets relative to the data section, each aligned.
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    if (t.shape.length > 4) throw new FormatError(`tensor ${t.name} has ${t.shape.length} dims; GGUF allows 4`, file, 'gguf/dims');
    const elements = t.shape.reduce((a, b) => a * b, 1);
    const size = ggmlTensorBytes(t.type, elements);
    sizes.push(size);
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d); // innermost first
    w.u32(t.type);
    w.u64(offset);
    offset += size;
    offset += padTo(offset, alignment);
  }
  w.zeros(padTo(w.length, alignment));
  const header = w.bytes();
  let written = 0;
  await withAtomicFile(file, async (handle) => {
    await handle.write(header);
    written = header.length;
    for (let i = 0; i < tensors.length; i++) {
      const bytes = await tensors[i].data();
      if (bytes.length !== sizes[i]) throw new FormatError(`tensor ${tensors[i].name}: ${bytes.length} bytes given, ${sizes[i]} expected`, file, 'gguf/size');
      await handle.write(bytes);
      written += bytes.length;
      const pad = i < tensors.length - 1 ? padTo(written - header.length, alignment) : 0;
      if (pad) await handle.write(new Uint8Array(pad));
      written += pad;
    }
  });
  return { bytes: written };
}

export function padTo(n: number, alignment: number): number {
  return (alignment - (n % alignment)) % alignment;
}
