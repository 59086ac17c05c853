import { bf16ArrayToF16Into, f16TableF32, f32ArrayToF16Into } from '../cpu-kernels/half-float.ts';
import { blockSum, TALLY_BLOCK } from './error-tally.ts';
import { WASM_BASE64 } from './export-kernels-wasm.ts';

/**
 * The export's hot loops in wasm SIMD (export-kernels.wat): one instance and memory per thread, laid out afresh by
 * each call (calls never interleave). Each loop has a JS twin that gives the same bits, used where WebAssembly SIMD
 * is missing, and held to it by tests.
 */

/** The part of the WebAssembly API used here (Node and Electron have it; this project's TypeScript libs do not type it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** export-kernels.wat's functions: pointers are byte offsets into the memory, counts are values. */
interface KernelFunctions {
  quantize(src: number, blocks: number, dst: number, back: number): void;
  tally(src: number, blocks: number, dst: number, back: number, state: number): void;
  bf16_to_f32(src: number, n: number, dst: number): void;
  bf16_to_f16(src: number, n: number, dst: number): void;
  f32_to_f16(src: number, n: number, dst: number): void;
  tally_f16(src: number, rows: number, cols: number, halves: number, state: number): void;
  add_low_rank(w: number, rows: number, cols: number, a: number, r: number, coef: number): number;
  any_non_finite(p: number, groups: number, mask: number, add: number, carry: number): number;
}

/** A running error tally (max, and sum in error-tally.ts's order) as the kernels update it. */
interface RunningTally {
  max: number;
  sum: number;
  count: number;
}

export class WasmKernels {
  readonly run: KernelFunctions;
  private readonly memory: WasmMemory;
  bytes = new Uint8Array(0);
  halves = new Uint16Array(0);
  words = new Float32Array(0);
  doubles = new Float64Array(0);

  constructor(api: WasmApi, binary: Uint8Array) {
    const { exports } = new api.Instance(new api.Module(binary));
    this.memory = exports.memory as WasmMemory;
    this.run = exports as unknown as KernelFunctions;
    this.reserve(0);
  }

  /** At least `bytes` bytes of memory; the views above are renewed when it grows (old ones then see nothing). */
  reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / 65536));
    if (this.bytes.buffer !== this.memory.buffer) {
      this.bytes = new Uint8Array(this.memory.buffer);
      this.halves = new Uint16Array(this.memory.buffer);
      this.words = new Float32Array(this.memory.buffer);
      this.doubles = new Float64Array(this.memory.buffer);
    }
  }

  /** Runs `fn` with a tally's max and sum in memory at `at` (16 bytes, 8-aligned), and takes them back. */
  tallied(at: number, tally: RunningTally, values: number, fn: () => void): void {
    this.doubles[at / 8] = tally.max;
    this.doubles[at / 8 + 1] = tally.sum;
    fn();
    tally.max = this.doubles[at / 8];
    tally.sum = this.doubles[at / 8 + 1];
    tally.count += values;
  }
}

let kernels: WasmKernels | null | undefined;

/** This thread's kernels; undefined where WebAssembly SIMD is missing or they are turned off. */
export function wasmKernels(): WasmKernels | undefined {
  if (kernels === undefined) {
    const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    const binary = Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0));
    kernels = api?.validate(binary) ? new WasmKernels(api, binary) : null;
  }
  return kernels ?? undefined;
}

/** Whether this thread uses the wasm kernels (tests and the bench turn them off to hold them to the JS loops). */
export function setWasmKernels(enabled: boolean): void {
  kernels = enabled ? undefined : null;
}

/**
 * A group of `values` f32 values at the start of the kernels' memory, which every kernel here reads without a copy,
 * with room after it for any kernel's output (at most 3 bytes a value + 64). Valid until the next call in here.
 */
export function groupInput(values: number): Float32Array | undefined {
  const k = wasmKernels();
  if (!k) return undefined;
  k.reserve(7 * values + 64);
  return k.words.subarray(0, values);
}

/**
 * groupInput holding `bf16` decoded to f32 in wasm: they are copied into the group's upper half and decoded in place
 * from the front, 8 at a time (each 8 are read before their f32s overwrite them; the last 8 may run into the room).
 */
export function groupFromBf16(bf16: Uint16Array): Float32Array | undefined {
  const group = groupInput(bf16.length);
  if (!group) return undefined;
  const k = wasmKernels()!;
  k.halves.set(bf16, bf16.length);
  k.run.bf16_to_f32(2 * bf16.length, bf16.length, 0);
  return group;
}

/** groupFromBf16 of rows `from[0], from[1], ..` of `cols` values each, gathered from `bf16` in that order. */
export function groupFromBf16Rows(bf16: Uint16Array, from: ArrayLike<number>, cols: number): Float32Array | undefined {
  const n = from.length * cols;
  const group = groupInput(n);
  if (!group) return undefined;
  const k = wasmKernels()!;
  for (let j = 0; j < from.length; j++) k.halves.set(bf16.subarray(from[j] * cols, (from[j] + 1) * cols), n + j * cols);
  k.run.bf16_to_f32(2 * n, n, 0);
  return group;
}

/** Whether `values` is the group at the start of the kernels' memory. */
export function isGroup(k: WasmKernels, values: Float32Array): boolean {
  return values.buffer === k.words.buffer && values.byteOffset === 0;
}

/** Values per call when an array outside the kernels' memory is copied in (256 KiB as f32). */
export const CHUNK_VALUES = 1 << 16;
/** `n` rounded up to 16 bytes (where v128 loads and the tally's f64 pair are placed). */
export const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** bf16 → f16 (bf16ArrayToF16Into's bits), in wasm when it can. */
export function bf16ToF16(src: Uint16Array, out: Uint16Array): void {
  const k = wasmKernels();
  const simd = k ? src.length - (src.length % 8) : 0;
  if (k) {
    k.reserve(4 * CHUNK_VALUES);
    for (let i = 0; i < simd; i += CHUNK_VALUES) {
      const n = Math.min(CHUNK_VALUES, simd - i);
      k.halves.set(src.subarray(i, i + n), 0);
      k.run.bf16_to_f16(0, n, 2 * CHUNK_VALUES);
      out.set(k.halves.subarray(CHUNK_VALUES, CHUNK_VALUES + n), i);
    }
  }
  if (simd < src.length) bf16ArrayToF16Into(src.subarray(simd), out.subarray(simd, src.length));
}

/**
 * f32 → f16 (f32ArrayToF16Into's bits) of whole rows of `cols` values, in wasm when it can; with `tally`, |x - f16(x)|
 * of each value added (error-tally.ts's order). The group (groupInput) is read where it is; other arrays are copied
 * in by whole rows.
 */
export function f32ToF16(src: Float32Array, out: Uint16Array, tally?: RunningTally, cols = src.length): void {
  const k = wasmKernels();
  if (!k) {
    f32ArrayToF16Into(src, out);
    if (tally) tallyF16(src, out, tally, cols);
    return;
  }
  const resident = isGroup(k, src);
  const rowsPerCall = resident ? src.length / Math.max(cols, 1) : Math.max(1, Math.floor(CHUNK_VALUES / Math.max(cols, 1)));
  for (let i = 0; i < src.length; i += rowsPerCall * cols) {
    const n = Math.min(rowsPerCall * cols, src.length - i);
    const halvesAt = align16(4 * n);
    const stateAt = align16(halvesAt + 2 * n);
    k.reserve(stateAt + 16);
    if (!resident) k.words.set(src.subarray(i, i + n), 0);
    const simd = n - (n % 8);
    k.run.f32_to_f16(0, simd, halvesAt);
    const halves = k.halves.subarray(halvesAt / 2, halvesAt / 2 + n);
    if (simd < n) f32ArrayToF16Into(k.words.subarray(simd, n), halves.subarray(simd)); // the last few, in JS
    if (tally) k.tallied(stateAt, tally, n, () => k.run.tally_f16(0, n / cols, cols, halvesAt, stateAt));
    out.set(halves, i);
  }
}

/** |x - f16(x)| of rows of `cols` values, as ErrorTally.add does with the halves decoded, in error-tally.ts's order. */
export function tallyF16(w: Float32Array, halves: Uint16Array, tally: RunningTally, cols = w.length): void {
  const table = f16TableF32();
  let { max, sum } = tally;
  for (let row = 0; row < w.length; row += cols) {
    let c = 0;
    for (; c + TALLY_BLOCK <= cols; c += TALLY_BLOCK) {
      for (let j = 0; j < TALLY_BLOCK; j++) {
        const e = Math.abs(w[row + c + j] - table[halves[row + c + j]]);
        if (e > max) max = e;
        blockErrors[j] = e;
      }
      sum += blockSum(blockErrors);
    }
    for (; c < cols; c++) {
      const e = Math.abs(w[row + c] - table[halves[row + c]]);
      if (e > max) max = e;
      sum += e;
    }
  }
  tally.max = max;
  tally.sum = sum;
  tally.count += w.length;
}
const blockErrors = new Float64Array(TALLY_BLOCK);

/**
 * A LoRA update added in wasm to rows of the kernels' group, W[rows] += scale · B[rows] · A: LowRankUpdate's bits
 * (low-rank.ts), for an A with no NaN or ±Inf (LowRankUpdate leaves zero terms out then). lora_A is laid in once a
 * piece, as f64, past the room of its largest group (`groupValues`, see groupInput), and each call's coefficients
 * after it.
 */
export class WasmLowRank {
  private constructor(
    private readonly k: WasmKernels,
    private readonly aAt: number,
    private readonly coefAt: number,
    private readonly r: number,
    private readonly cols: number,
    private readonly scale: number,
  ) {}

  /** undefined where the kernels are missing. */
  static place(a: Float32Array, r: number, cols: number, scale: number, groupValues: number): WasmLowRank | undefined {
    const k = wasmKernels();
    if (!k) return undefined;
    const aAt = align16(7 * groupValues + 64);
    const coefAt = align16(aAt + 8 * r * cols);
    k.reserve(coefAt + 8 * r * Math.ceil(groupValues / Math.max(cols, 1)));
    k.doubles.set(a.subarray(0, r * cols), aAt / 8);
    return new WasmLowRank(k, aAt, coefAt, r, cols, scale);
  }

  /**
   * w [rows, cols] += scale · b [rows, r] · A; w must lie in the group (groupInput), before lora_A. Returns whether a
   * merged value is NaN or ±Inf.
   */
  addRows(w: Float32Array, b: Float32Array, rows: number): boolean {
    const { k, r, cols } = this;
    if (w.buffer !== k.words.buffer || w.byteOffset + 4 * rows * cols > this.aAt) {
      throw new Error("WasmLowRank.addRows: the rows must lie in the kernels' group");
    }
    const coef = this.coefAt / 8;
    for (let i = 0; i < rows * r; i++) k.doubles[coef + i] = this.scale * b[i]; // LowRankUpdate's coefficients, in f64
    return k.run.add_low_rank(w.byteOffset, rows, cols, this.aAt, r, this.coefAt) !== 0;
  }
}

/** The scan's own instance: it runs between the export's calls (as weights are read), so it keeps out of their memory. */
let scanner: WasmKernels | null | undefined;
/** Bytes copied into the scanner's memory per call. */
const SCAN_CHUNK = 1 << 20;

/**
 * Whether (word >>> 1) & mask + add carries into `carry` for some 32-bit word of `bytes` (finite-scan.ts's NaN / Inf
 * rule), in wasm SIMD: the whole 16-byte groups only; undefined where WebAssembly SIMD is missing or turned off.
 * Returns the number of bytes it covered with the answer.
 */
export function wasmNonFiniteWords(
  bytes: Uint8Array,
  mask: number,
  add: number,
  carry: number,
): { any: boolean; covered: number } | undefined {
  if (!wasmKernels()) return undefined;
  if (scanner === undefined) {
    const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    scanner = new WasmKernels(
      api,
      Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0)),
    );
    scanner.reserve(SCAN_CHUNK);
  }
  const k = scanner!;
  const covered = bytes.byteLength - (bytes.byteLength % 16);
  for (let at = 0; at < covered; at += SCAN_CHUNK) {
    const n = Math.min(SCAN_CHUNK, covered - at);
    k.bytes.set(bytes.subarray(at, at + n), 0);
    if (k.run.any_non_finite(0, n / 16, mask, add, carry) !== 0) return { any: true, covered };
  }
  return { any: false, covered };
}
