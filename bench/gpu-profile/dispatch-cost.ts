// What one GPU dispatch costs at the least: the arithmetic it must do and the bytes it must move. No GPU here.

export interface TensorShape {
  shape: number[];
  dtype: string;
}

export interface DispatchRecord {
  /** The program's class (tfjs's, e.g. MatMulPackedProgram) or, for our object-literal kernels, its shaderKey. */
  program: string;
  inputs: TensorShape[];
  output: TensorShape;
  flops: number;
  /** Every input read once and the output written once: the traffic no kernel can avoid. */
  bytes: number;
}

/** Bytes per element as tfjs-backend-webgpu stores them (bool as int32; packed 16-bit weights are int32 words). */
const ELEMENT_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 4, complex64: 8 };

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * A product: tfjs's MatMul*Program family, our kernels whose key says matmul (the attention's batched products), and the
 * packed frozen-weight kernels (`lora-studio-packed-tiled-…`, `lora-studio-packed-subgroup-…`, every storage mode).
 */
export function isProduct(program: string): boolean {
  return /mat_?mul|gemm|lora-studio-packed-(tiled|subgroup)-/i.test(program);
}

/**
 * FLOPs and bytes of one dispatch. A product [.., M, N] whose left operand (input 0) is [.., M, K] or, transposed,
 * [.., K, M] costs 2·M·N·K per batch entry. Any other program (elementwise, reduction, softmax, norm) counts one FLOP
 * per element it reads or writes: such programs are bound by bytes, so the count barely matters. A program may
 * declare its own `flops` (a fused kernel whose shapes do not tell).
 */
export function dispatchCost(
  program: string,
  inputs: TensorShape[],
  output: TensorShape,
  declaredFlops?: number,
): { flops: number; bytes: number } {
  const bytes = [...inputs, output].reduce((n, t) => n + size(t.shape) * (ELEMENT_BYTES[t.dtype] ?? 4), 0);
  if (declaredFlops !== undefined) return { flops: declaredFlops, bytes };
  if (isProduct(program) && inputs.length >= 1 && output.shape.length >= 2) {
    const a = inputs[0].shape;
    const m = output.shape[output.shape.length - 2];
    const k = a[a.length - 2] === m ? a[a.length - 1] : a[a.length - 2];
    return { flops: 2 * size(output.shape) * k, bytes };
  }
  return { flops: Math.max(size(output.shape), ...inputs.map((t) => size(t.shape))), bytes };
}

export interface Machine {
  /** Sustained arithmetic rate of our kernels, FLOP/s. */
  flopsPerSecond: number;
  /** Sustained memory bandwidth, bytes/s (read + written). */
  bytesPerSecond: number;
  /** Fixed cost of one dispatch, seconds. */
  dispatchSeconds: number;
}

/** Roofline time of one dispatch: its fixed cost, plus the longer of its arithmetic and its memory traffic. */
export function dispatchSeconds(d: Pick<DispatchRecord, 'flops' | 'bytes'>, m: Machine): number {
  return m.dispatchSeconds + Math.max(d.flops / m.flopsPerSecond, d.bytes / m.bytesPerSecond);
}
