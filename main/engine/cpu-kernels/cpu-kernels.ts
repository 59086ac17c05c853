// What the CPU backends' frozen-matrix products (and, natively, the fused ops of a layer) run on: the native addon
// over OpenBLAS (native-gemm.ts) or our wasm SIMD kernels (cpu-gemm.ts). One of them is open per process
// (cpu-matmul-path.ts), so a matrix always belongs to the kernels that placed it.
import type { FusedOps } from './fused-ops.ts';
import type { GemmMode } from './gemm-wat.ts';

/**
 * A matrix W [rows, cols] as stored, row-major: f32 values, f16/bf16 bits, int8 codes or NF4 codes (two a byte, low
 * nibble first), with one f32 scale per GEMM_QUANT_BLOCK values of the flattened matrix for int8 and NF4.
 */
export interface GemmMatrixInput {
  rows: number;
  cols: number;
  mode: GemmMode;
  values: ArrayBufferView;
  scales?: Float32Array;
}

/** A frozen matrix W [rows, cols] placed in the kernels' memory in its stored form. */
export interface CpuMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: GemmMode;
  /** Bytes held for it (values and scales), outside any tfjs heap. */
  readonly storedBytes: number;
  released: boolean;
}

/** x·Wᵀ (x [n, cols] → [n, rows]) or dy·W (dy [n, rows] → [n, cols]). */
export type Direction = 'xwt' | 'dyw';

export interface CpuKernels {
  /** 'native-openblas', 'wasm-relaxed-simd' or 'wasm-simd128'. */
  readonly kernel: string;
  readonly threads: number;
  /** Copy a stored matrix into the kernels' memory (its bytes as they are: nothing is decoded here). */
  upload(m: GemmMatrixInput): CpuMatrix;
  /** Give its memory back. */
  release(m: CpuMatrix): void;
  /** One product with W decoded from its stored form inside the kernels: `a` [n, r] → `out` [n, p]. */
  product(m: CpuMatrix, direction: Direction, a: Float32Array, n: number, out: Float32Array): void;
  /** Per row of logits x [n, v]: its max and Σ exp(x − max), in f64. */
  rowMaxSumExp(x: Float32Array, n: number, v: number): { max: Float64Array; sum: Float64Array };
  /** (softmax(x) − onehot(target)) · coef per row of x [n, v], into `out`. */
  softmaxGrad(x: Float32Array, n: number, v: number, lse: Float64Array, coef: Float32Array, targets: Int32Array, out: Float32Array): void;
  /** The fused ops of a decoder layer (attention, RMSNorm, SwiGLU, any f32 product), where the kernels have them. */
  readonly fused?: FusedOps;
  /** Stop the worker threads. */
  close(): Promise<void>;
}
