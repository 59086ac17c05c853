import { FormatError, StudioError } from '../errors.ts';
import { withAtomicStream, type AtomicWriteHooks } from '../fs/atomic-write.ts';
import { DTYPE_BYTES, isDType } from './dtypes.ts';
import { writePieces, type TensorBytes, type WriteAheadOptions } from './piece-writer.ts';
import { compareNames, MAX_HEADER_BYTES } from './safetensors-header.ts';
import type { DType } from './tensor-source.ts';

export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: number[];
  /**
   * The bytes, or a function that makes them when their turn comes: all at once, or as pieces in order (an async
   * iterable of row blocks), so only a piece or two is in memory at a time.
   */
  data: Uint8Array | (() => TensorBytes | Promise<TensorBytes>);
}

interface WriteHooks extends AtomicWriteHooks {
  /** Called after each tensor's bytes are written (tests inject failures here). */
  afterTensor?(name: string): void | Promise<void>;
}

interface WriteSafetensorsOptions extends WriteAheadOptions {
  /** `__metadata__`: string → string only (PEFT adapters write {format: "pt"}). */
  metadata?: Record<string, string>;
  hooks?: WriteHooks;
  /** The file is written inside a folder made by withAtomicDir, which fsyncs it (AtomicWriteHooks.syncedByFolder). */
  syncedByFolder?: boolean;
}

interface Planned {
  tensor: TensorToWrite;
  bytes: number;
}

/**
 * Header JSON for tensors (sorted by name, offsets contiguous from 0), padded with spaces to a multiple of 8.
 * Computed from dtype and shape alone, so no tensor's data is needed yet. Bad input throws naming `file`.
 */
export function buildHeader(
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
  file?: string,
): { header: Uint8Array; dataBytes: number; order: TensorToWrite[] } {
  const { header, dataBytes, plan } = planFile(tensors, metadata, file);
  return { header, dataBytes, order: plan.map((p) => p.tensor) };
}

function planFile(tensors: TensorToWrite[], metadata: Record<string, string> | undefined, file: string | undefined) {
  const fail = (code: string, msg: string): never => {
    throw new FormatError(msg, file, `safetensors/${code}`);
  };
  const sorted = [...tensors].sort((a, b) => compareNames(a.name, b.name));
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') fail('metadata', `__metadata__.${k} must be a string, got ${typeof v}`);
    obj.__metadata__ = metadata;
  }
  const plan: Planned[] = [];
  let offset = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i];
    if (typeof t.name !== 'string' || t.name === '__metadata__')
      fail('tensor-entry', `tensor name ${JSON.stringify(t.name)} is not allowed`);
    if (i > 0 && sorted[i - 1].name === t.name) fail('duplicate-key', `tensor ${t.name} given twice`);
    if (!isDType(t.dtype)) fail('unknown-dtype', `tensor ${t.name}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail('shape', `tensor ${t.name}: shape ${JSON.stringify(t.shape)} must be a list of non-negative integers`);
    }
    const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (!Number.isSafeInteger(bytes) || !Number.isSafeInteger(offset + bytes)) fail('overflow', `tensor ${t.name}: byte size overflows`);
    // Define, not assign: a tensor named "__proto__" must stay an ordinary key.
    Object.defineProperty(obj, t.name, {
      value: { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] },
      enumerable: true,
      configurable: true,
      writable: true,
    });
    plan.push({ tensor: t, bytes });
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const padded = Math.ceil(json.length / 8) * 8; // so the data buffer starts 8-byte aligned
  if (padded > MAX_HEADER_BYTES)
    fail('header-too-large', `header would be ${padded} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers enforce`);
  const header = new Uint8Array(padded).fill(0x20);
  header.set(json);
  return { header, dataBytes: offset, plan };
}

/**
 * Write a safetensors file atomically (temp file in the same folder, fsync, rename). The header is built first
 * from dtype and shape; then each tensor's bytes are produced (lazily when `data` is a function), checked
 * against its declared size and written, in name order. The next pieces are produced while the current one is
 * being written (reading and converting overlap the disk); a tensor given as pieces is written piece by piece, so at
 * most `lookahead` + 1 pieces are in memory at a time.
 * On any failure the temp file is removed, nothing appears at `file`, and the error names `file`.
 */
export async function writeSafetensors(file: string, tensors: TensorToWrite[], opts: WriteSafetensorsOptions = {}): Promise<void> {
  const { header, plan } = planFile(tensors, opts.metadata, file);
  try {
    await withAtomicStream(
      file,
      async (out) => {
        const length = new Uint8Array(8);
        new DataView(length.buffer).setBigUint64(0, BigInt(header.length), true);
        await out.write(length);
        await out.write(header);
        await writePieces(
          plan.length,
          (i) => {
            const data = plan[i].tensor.data;
            return typeof data === 'function' ? data() : data;
          },
          {
            expectedBytes: (i) => plan[i].bytes,
            notBytes: (i, got) =>
              new FormatError(`tensor ${plan[i].tensor.name}: data must be a Uint8Array, got ${got}`, file, 'safetensors/write'),
            wrongSize: (i, got) => {
              const t = plan[i].tensor;
              return new FormatError(
                `tensor ${t.name}: got ${got} bytes, ${t.dtype} [${t.shape.join(', ')}] needs ${plan[i].bytes}`,
                file,
                'safetensors/size-mismatch',
              );
            },
            write: (piece) => out.write(piece),
            tensorDone: (i) => opts.hooks?.afterTensor?.(plan[i].tensor.name),
          },
          opts,
        );
      },
      { beforeRename: opts.hooks?.beforeRename, syncedByFolder: opts.syncedByFolder },
    );
  } catch (e) {
    if (e instanceof StudioError) throw e;
    const err = new StudioError(`could not write: ${(e as Error)?.message ?? String(e)}`, file, 'safetensors/write');
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }
}
