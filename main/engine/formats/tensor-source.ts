/** The dtypes the engine reads from checkpoints (safetensors names). */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface TensorInfo {
  name: string;
  dtype: DType;
  /** PyTorch order: outermost first, e.g. a linear weight is [out, in]. */
  shape: number[];
}

/**
 * A lazily read set of named tensors: a safetensors file, a sharded HF checkpoint folder, a PEFT adapter.
 * Nothing is read until a tensor is asked for, so inspecting a 13B checkpoint costs only its headers.
 */
export interface TensorSource {
  /** Every tensor, sorted by name. */
  list(): TensorInfo[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** The tensor's values converted to f32 (F32, F16 and BF16 are supported). */
  readF32(name: string): Promise<Float32Array>;
  /** The tensor's bytes exactly as stored (little-endian). */
  readRaw(name: string): Promise<Uint8Array>;
  /**
   * Rows [start, end) of the outermost dimension, as f32 or as stored: exports stream a tensor in pieces of rows, so
   * memory holds a piece, never a whole 500 MB embedding.
   */
  readF32Rows(name: string, start: number, end: number): Promise<Float32Array>;
  readRawRows(name: string, start: number, end: number): Promise<Uint8Array>;
  /** readRawRows into `into` (exactly the rows' bytes long): an export reads piece after piece into the same memory. */
  readRawRowsInto?(name: string, start: number, end: number, into: Uint8Array): Promise<Uint8Array>;
  /**
   * What an encoder needs to make rows [start, end) itself, on any thread: the stored bytes (in `into` when given and
   * the source can) and, for a merged tensor, the LoRA update to add. Sources that change no values need not have it
   * (their raw rows are the input).
   */
  readRowsInput?(name: string, start: number, end: number, into?: Uint8Array): Promise<RowsInput>;
  close(): Promise<void>;
}

/** A LoRA update for some rows of a weight: W[rows] += scale · B[rows] · A. */
export interface LowRankRows {
  /** A [r, cols]. */
  a: Float32Array;
  /** B's rows for these weight rows only: [rows, r]. */
  b: Float32Array;
  r: number;
  scale: number;
  /** Refuse a merged value that is NaN or ±Inf (see MergedSource's `safe`). */
  safe: boolean;
}

export interface RowsInput {
  raw: Uint8Array;
  dtype: DType;
  delta?: LowRankRows;
}

/** Rows [start, end) as stored, into `into` when the source can (else wherever it reads them). */
export function readRawRowsInto(source: TensorSource, name: string, start: number, end: number, into: Uint8Array): Promise<Uint8Array> {
  return source.readRawRowsInto ? source.readRawRowsInto(name, start, end, into) : source.readRawRows(name, start, end);
}
