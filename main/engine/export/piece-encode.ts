import { decodeToF32, DTYPE_BYTES, isFloatDType } from '../formats/dtypes.ts';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16Into } from '../cpu-kernels/half-float.ts';
import { addLowRank, firstNonFinite, LowRankUpdate, nonFiniteMergeError } from './low-rank.ts';
import { encodedNonFinite, encodedOverflowError } from './encoded-finite.ts';
import type { LowRankRows } from '../formats/tensor-source.ts';
import { checkQ8_0Rows, ErrorTally, Q8_0_BLOCK, quantizeQ8_0Into } from '../formats/q8-0.ts';
import type { DType } from '../formats/tensor-source.ts';
import { bf16ToF16, f32ToF16, groupFromBf16, groupFromBf16Rows, groupInput, WasmLowRank } from '../cpu-kernels/export-kernels.ts';

/** What a piece of rows becomes: a float dtype, GGUF's Q8_0, or bitsandbytes' row-wise int8 (weights + SCB). */
export type PieceTarget = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'I8';

/**
 * One piece of rows to encode, with everything it needs: it can be done on this thread or sent to a worker thread
 * (its raw bytes live in a PieceSlot, shared with the workers).
 */
export interface PieceTask {
  /** The tensor's name and the first row of the piece, for error messages. */
  tensor: string;
  start: number;
  rows: number;
  cols: number;
  /** The rows as stored (F32, F16, BF16 or F64, little-endian). */
  raw: Uint8Array;
  dtype: DType;
  /** A LoRA update to add before encoding (a merged tensor). */
  delta?: LowRankRows;
  /** q/k rows go from HF's rotate-half layout to interleaved RoPE: the number of heads in this piece. */
  ropeHeads?: number;
  to: PieceTarget;
  /** Tally each value's error against its f32 value (F16, Q8_0, I8). */
  tally?: boolean;
}

interface PieceOutput {
  bytes: Uint8Array;
  /** I8 only: each row's absmax (bitsandbytes' SCB). */
  scb?: Float32Array;
}

/**
 * Error tallies are summed in a fixed order (error-tally.ts) across a tensor's pieces (the f64 sum depends on the
 * order), so a tensor's pieces are encoded in order by one runner, which keeps the tally between them. `chain` names
 * the tensor; `last` ends it and returns the tally.
 */
export interface Chain {
  id: number;
  last: boolean;
}

export interface TallyFigures {
  max: number;
  sum: number;
  count: number;
}

export interface PieceResult extends PieceOutput {
  tally?: TallyFigures;
}

/**
 * Encodes pieces, keeping each chain's running error tally. One per thread (inline, or in each worker). Every piece an
 * export writes passes here, and one whose encoding holds an Inf (a finite value past f16's range, a Q8_0 scale that
 * overflows) stops the export naming the tensor: scanned as the piece is made, on the thread that made it.
 */
export class PieceRunner {
  private readonly tallies = new Map<number, ErrorTally>();

  run(task: PieceTask, chain?: Chain, into?: Uint8Array): PieceResult {
    const out = this.encode(task, chain, into);
    if (encodedNonFinite(task.to, out.bytes)) throw encodedOverflowError(task, task.to);
    return out;
  }

  private encode(task: PieceTask, chain?: Chain, into?: Uint8Array): PieceResult {
    if (!chain) return encodePiece(task, task.tally ? new ErrorTally() : undefined, into);
    let tally = this.tallies.get(chain.id);
    if (!tally) this.tallies.set(chain.id, (tally = new ErrorTally()));
    try {
      const out: PieceResult = encodePiece(task, task.tally ? tally : undefined, into);
      if (chain.last) out.tally = { max: tally.max, sum: tally.sum, count: tally.count };
      return out;
    } finally {
      if (chain.last) this.tallies.delete(chain.id); // a failed piece fails its export: the tally goes with the pool
    }
  }
}

/** Values per row group: rows are decoded, merged and encoded a group at a time, which stays in the L2 cache. */
const GROUP_VALUES = 1 << 14;

// This thread's group scratch (64 KiB): a piece costs no allocation but its output.
let scratch = new Float32Array(GROUP_VALUES);
function groupScratch(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch.subarray(0, n);
}

/**
 * decode → merge → RoPE rows → encode, for one piece, a group of rows at a time (each pass over a group runs in the
 * cache, not over the whole piece in memory). Into `into` (at least pieceOutputBytes long) when given, else into new
 * memory; the bytes (and SCB) returned are views of it.
 */
export function encodePiece(task: PieceTask, tally?: ErrorTally, into?: Uint8Array): PieceOutput {
  const { rows, cols, to } = task;
  if (to === 'Q8_0') checkQ8_0Rows(rows * cols, cols);
  const memory = into ?? new Uint8Array(pieceOutputBytes(to, rows, cols));
  const out = memory.subarray(0, encodedBytes(to, rows * cols));
  // I8: the rows' SCB after the int8 values, 4-byte aligned.
  const scb = to === 'I8' ? new Float32Array(memory.buffer, memory.byteOffset + scbOffset(rows * cols), rows) : undefined;
  const rowsIn = new StoredRows(task.raw, task.dtype, cols);
  // bf16 → f16 of untouched rows (most of an HF export from a bf16 checkpoint): straight, with no f32 in between.
  if (task.dtype === 'BF16' && to === 'F16' && !task.delta && !task.ropeHeads && !tally) {
    bf16ToF16(rowsIn.halves(), new Uint16Array(out.buffer, out.byteOffset, rows * cols));
    return { bytes: out };
  }
  const d = task.delta;
  const groupRows = Math.max(1, Math.floor(GROUP_VALUES / cols));
  const update = d ? lowRankUpdate(d, cols, Math.min(rows, groupRows) * cols) : undefined;
  // Output row → stored row: q/k rows move to interleaved RoPE within each head.
  const from = task.ropeHeads ? ropeSourceRows(rows, task.ropeHeads) : undefined;
  for (let g0 = 0; g0 < rows; g0 += groupRows) {
    const g1 = Math.min(rows, g0 + groupRows);
    const n = (g1 - g0) * cols;
    // Q8_0 and F16 groups, and groups merged in wasm, live in the wasm kernels' memory, which their kernels read
    // without a copy; bf16 rows are decoded there too.
    const inKernels = to === 'Q8_0' || to === 'F16' || update instanceof WasmLowRank;
    const halves = inKernels && task.dtype === 'BF16' ? rowsIn.halves() : undefined;
    const bf16Group =
      halves && (from ? groupFromBf16Rows(halves, from.subarray(g0, g1), cols) : groupFromBf16(halves.subarray(g0 * cols, g1 * cols)));
    const w = bf16Group || (inKernels && groupInput(n)) || groupScratch(n);
    const row = (o: number) => w.subarray((o - g0) * cols, (o - g0 + 1) * cols);
    if (!bf16Group && from) for (let o = g0; o < g1; o++) rowsIn.decode(from[o], from[o] + 1, row(o));
    else if (!bf16Group) rowsIn.decode(g0, g1, w);
    let nonFinite = false;
    if (d && update && from) for (let o = g0; o < g1; o++) nonFinite = mergeRows(update, d, row(o), from[o], 1) || nonFinite;
    else if (d && update) nonFinite = mergeRows(update, d, w, g0, g1 - g0);
    if (d?.safe && nonFinite) throw firstNonFiniteError(task); // in stored order, as the message says
    encodeGroup(w, to, out, g0 * cols, cols, scb?.subarray(g0, g1), tally);
  }
  return { bytes: out, scb };
}

/** The merge of a piece's groups: in wasm when it can (an A with a NaN or ±Inf stays in JS, see WasmLowRank). */
function lowRankUpdate(d: LowRankRows, cols: number, groupValues: number): WasmLowRank | LowRankUpdate {
  const inWasm = firstNonFinite(d.a) < 0 && WasmLowRank.place(d.a, d.r, cols, d.scale, groupValues);
  return inWasm || new LowRankUpdate(d.a, d.r, cols, d.scale);
}

/**
 * `rows` rows at `w` (stored rows first..) get the update; returns whether a merged value is NaN or ±Inf (the wasm
 * merge tells as it goes; the JS one is checked after, when the task asks for it).
 */
function mergeRows(update: WasmLowRank | LowRankUpdate, d: LowRankRows, w: Float32Array, first: number, rows: number): boolean {
  const b = d.b.subarray(first * d.r, (first + rows) * d.r);
  if (update instanceof WasmLowRank) return update.addRows(w, b, rows);
  update.addRows(w, b, rows);
  return d.safe && firstNonFinite(w) >= 0;
}

/** Bytes of `values` values in the target encoding. */
function encodedBytes(to: PieceTarget, values: number): number {
  return to === 'F32' ? values * 4 : to === 'F16' || to === 'BF16' ? values * 2 : to === 'I8' ? values : (values / Q8_0_BLOCK) * 34;
}

function scbOffset(values: number): number {
  return Math.ceil(values / 4) * 4;
}

/** The memory encodePiece needs for a piece of `rows` × `cols` values (I8: its SCB too). */
export function pieceOutputBytes(to: PieceTarget, rows: number, cols: number): number {
  return to === 'I8' ? scbOffset(rows * cols) + rows * 4 : encodedBytes(to, rows * cols);
}

/** One group of rows (values `at`.. of the piece) encoded into its place in `out`; tallied in error-tally.ts's order. */
function encodeGroup(
  w: Float32Array,
  to: PieceTarget,
  out: Uint8Array,
  at: number,
  cols: number,
  scb?: Float32Array,
  tally?: ErrorTally,
): void {
  switch (to) {
    case 'F32':
      new Float32Array(out.buffer, out.byteOffset, out.byteLength / 4).set(w, at);
      return;
    case 'BF16':
      f32ArrayToBf16Into(w, new Uint16Array(out.buffer, out.byteOffset + at * 2, w.length));
      return;
    case 'F16':
      f32ToF16(w, new Uint16Array(out.buffer, out.byteOffset + at * 2, w.length), tally, cols);
      return;
    case 'Q8_0':
      quantizeQ8_0Into(w, out.subarray((at / Q8_0_BLOCK) * 34), tally);
      return;
    case 'I8':
      quantizeInt8RowwiseInto(w, w.length / cols, cols, new Int8Array(out.buffer, out.byteOffset + at, w.length), scb!, tally);
      return;
  }
}

/** For each row of a piece of `heads` whole heads in interleaved RoPE order, the rotate-half row it comes from. */
function ropeSourceRows(rows: number, heads: number): Int32Array {
  const from = new Int32Array(rows);
  const headDim = rows / heads;
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) from[h * headDim + 2 * i + j] = h * headDim + j * half + i;
    }
  }
  return from;
}

/** The merge's non-finite error for the first bad value in stored order (what a whole-piece merge would report). */
function firstNonFiniteError(task: PieceTask): Error {
  const w = decodeToF32(task.raw, task.dtype);
  const d = task.delta!;
  addLowRank(w, d.b, d.a, task.rows, task.cols, d.r, d.scale);
  return nonFiniteMergeError(task.tensor, w, firstNonFinite(w), task.start, task.cols);
}

/** A piece's stored rows, decoded to f32 a few rows at a time. */
class StoredRows {
  private readonly view: Float32Array | Float64Array | Uint16Array;

  constructor(
    raw: Uint8Array,
    private readonly dtype: DType,
    private readonly cols: number,
  ) {
    const bytes = DTYPE_BYTES[dtype];
    if (!isFloatDType(dtype)) throw new Error(`${dtype} is not a floating-point dtype`);
    const own = raw.byteOffset % bytes === 0 ? raw : raw.slice();
    const n = own.byteLength / bytes;
    this.view =
      dtype === 'F32'
        ? new Float32Array(own.buffer, own.byteOffset, n)
        : dtype === 'F64'
          ? new Float64Array(own.buffer, own.byteOffset, n)
          : new Uint16Array(own.buffer, own.byteOffset, n);
  }

  /** The stored values of a 16-bit dtype, as bits. */
  halves(): Uint16Array {
    return this.view as Uint16Array;
  }

  /** Rows [start, end) into `out` (exactly that many values). */
  decode(start: number, end: number, out: Float32Array): void {
    const from = this.view.subarray(start * this.cols, end * this.cols);
    if (this.dtype === 'BF16') bf16ArrayToF32(from as Uint16Array, out);
    else if (this.dtype === 'F16') f16ArrayToF32(from as Uint16Array, out);
    else out.set(from);
  }
}

/**
 * bitsandbytes LLM.int8 row-wise quantization of a piece of rows into `q` and `scb`: SCB = max|row|,
 * q = round(W · 127 / SCB) (Math.round: halves toward +∞). Not the frozen base's int8 (llama/block-quant.ts:
 * quantizeInt8Blockwise, one scale per block of 64). With a tally, |W - q · SCB / 127| (as f32) in element order; its
 * max follows Math.max (a NaN sticks), as the int8 export's report always did.
 */
function quantizeInt8RowwiseInto(w: Float32Array, rows: number, cols: number, q: Int8Array, scb: Float32Array, tally?: ErrorTally): void {
  let max = tally?.max ?? 0;
  let sum = tally?.sum ?? 0;
  for (let r = 0; r < rows; r++) {
    const at = r * cols;
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[at + c]));
    scb[r] = m;
    const k = m === 0 ? 0 : 127 / m;
    for (let c = 0; c < cols; c++) q[at + c] = Math.round(w[at + c] * k);
    if (tally) {
      const s = scb[r];
      for (let c = 0; c < cols; c++) {
        const e = Math.abs(w[at + c] - Math.fround((q[at + c] * s) / 127));
        max = Math.max(max, e);
        sum += e;
      }
    }
  }
  if (tally) {
    tally.max = max;
    tally.sum = sum;
    tally.count += w.length;
  }
}
