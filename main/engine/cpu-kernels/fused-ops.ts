// The fused ops of a decoder layer that the native kernels run (native/src/attention.cc, elementwise.cc), as the
// backend's fused wrappers (backend/cpu-fused.ts) call them. Each reads and writes the typed arrays it is given.

/** Turns the fused ops off (`off`): the profile's before-and-after, and the comparison with the plain ops. */
export const CPU_FUSED_ENV = 'LORA_STUDIO_CPU_FUSED';

/** Whether the fused ops are wanted (they run where the native kernels do). */
export function cpuFusedWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[CPU_FUSED_ENV] !== 'off';
}

/** [B, T, nH, nKV, D, maskBatches]: batch, sequence, query heads, KV heads, head width, masks (1 or B). */
export type AttentionShape = [number, number, number, number, number, number];

export interface FusedOps {
  /** C = op(A)·op(B)·alpha + C·beta, row-major (op: transposed when asked), on the pool. */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
  rmsNormForward(x: Float32Array, w: Float32Array, n: number, h: number, eps: number, y: Float32Array, rstd: Float32Array): void;
  rmsNormBackward(x: Float32Array, w: Float32Array, rstd: Float32Array, dy: Float32Array, n: number, h: number, dx: Float32Array): void;
  swigluForward(g: Float32Array, u: Float32Array, count: number, y: Float32Array): void;
  swigluBackward(g: Float32Array, u: Float32Array, dy: Float32Array, count: number, dg: Float32Array, du: Float32Array): void;
  attentionForward(
    shape: AttentionShape,
    scale: number,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    keep: Float32Array,
    o: Float32Array,
    qr: Float32Array,
    kr: Float32Array,
    probs: Float32Array,
  ): void;
  attentionBackward(
    shape: AttentionShape,
    scale: number,
    dout: Float32Array,
    qr: Float32Array,
    kr: Float32Array,
    v: Float32Array,
    probs: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    keep: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
  ): void;
}
