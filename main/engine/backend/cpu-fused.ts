import * as tf from '@tensorflow/tfjs';
import type { CpuMatrix } from '../cpu-kernels/cpu-kernels.ts';
import { cpuGemm } from '../cpu-kernels/cpu-matmul-path.ts';
import { cpuFusedWanted, type AttentionShape, type FusedOps } from '../cpu-kernels/fused-ops.ts';
import { cpuTensor, cpuTensors, tensorValues } from './cpu-tensors.ts';

// The fused ops of a decoder layer on the native CPU kernels, as tfjs ops with their gradients (customGrad): each is
// one call each way into native/ instead of the many small tfjs ops they replace (the way the WebGPU path fused its
// kernels). Where the kernels have no fused ops (the wasm kernels, the tfjs path) the model keeps its tfjs ops.

export { CPU_FUSED_ENV } from '../cpu-kernels/fused-ops.ts';

/** The native fused ops, when this process runs them. */
export function cpuFused(): FusedOps | undefined {
  if (!cpuFusedWanted() || tf.getBackend() === 'webgpu') return undefined;
  return cpuGemm()?.fused;
}

/** RMSNorm x · rsqrt(mean(x²) + eps) · w over the last axis; w is frozen (no gradient). */
export function fusedRmsNormCpu(f: FusedOps, x: tf.Tensor2D, w: tf.Tensor1D, eps: number): tf.Tensor2D {
  const [n, h] = x.shape;
  const op = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const [y, rstd] = cpuTensors([[n, h], [n]], ([yv, rv]) => f.rmsNormForward(tensorValues(input), tensorValues(w), n, h, eps, yv, rv));
    save([input, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [
        cpuTensor([n, h], (dx) =>
          f.rmsNormBackward(tensorValues(saved[0]), tensorValues(w), tensorValues(saved[1]), tensorValues(dy as tf.Tensor), n, h, dx),
        ),
      ],
    };
  });
  return op(x) as tf.Tensor2D;
}

/** SwiGLU silu(gate) · up, elementwise. */
export function fusedSwiGluCpu(f: FusedOps, gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  const count = gate.size;
  const op = tf.customGrad((...args) => {
    const [g, u] = args as tf.Tensor2D[];
    const save = args[2] as tf.GradSaveFunc;
    save([g, u]);
    return {
      value: cpuTensor(gate.shape, (y) => f.swigluForward(tensorValues(g), tensorValues(u), count, y)),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        cpuTensors([gate.shape, gate.shape], ([dg, du]) =>
          f.swigluBackward(tensorValues(saved[0]), tensorValues(saved[1]), tensorValues(dy as tf.Tensor), count, dg, du),
        ),
    };
  });
  return op(gate, up) as tf.Tensor2D;
}

export interface AttentionInputs {
  B: number;
  T: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** RoPE tables [T, D]. */
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
  /** [B|1, 1, T, T]: 1 where a query sees a key. */
  keep: tf.Tensor4D;
}

/**
 * Causal GQA attention with RoPE from the projections' outputs q [B·T, nH·D], k and v [B·T, nKV·D] to the merged
 * heads [B·T, nH·D] that o_proj reads: RoPE, scores, mask, softmax and both products in one call, and one for the
 * gradient. The backward reads the rotated q and k and the probabilities the forward kept.
 */
export function fusedAttentionCpu(f: FusedOps, q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, a: AttentionInputs): tf.Tensor2D {
  const { B, T, heads, kvHeads, headDim: D } = a;
  const shape: AttentionShape = [B, T, heads, kvHeads, D, a.keep.shape[0]];
  const scale = 1 / Math.sqrt(D);
  const op = tf.customGrad((...args) => {
    const [qi, ki, vi] = args as tf.Tensor2D[];
    const save = args[3] as tf.GradSaveFunc;
    const [o, qr, kr, probs] = cpuTensors([qi.shape, qi.shape, ki.shape, [B, heads, T, T]], ([ov, qv, kv, pv]) =>
      f.attentionForward(
        shape,
        scale,
        tensorValues(qi),
        tensorValues(ki),
        tensorValues(vi),
        tensorValues(a.cos),
        tensorValues(a.sin),
        tensorValues(a.keep),
        ov,
        qv,
        kv,
        pv,
      ),
    );
    save([qr, kr, vi, probs, a.cos, a.sin, a.keep]); // the shared tables and mask may go before the backward runs
    return {
      value: o,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [qs, ks, vs, ps, cos, sin, keep] = saved;
        return cpuTensors([qi.shape, ki.shape, ki.shape], ([dq, dk, dv]) =>
          f.attentionBackward(
            shape,
            scale,
            tensorValues(dy as tf.Tensor),
            tensorValues(qs),
            tensorValues(ks),
            tensorValues(vs),
            tensorValues(ps),
            tensorValues(cos),
            tensorValues(sin),
            tensorValues(keep),
            dq,
            dk,
            dv,
          ),
        );
      },
    };
  });
  return op(q, k, v) as tf.Tensor2D;
}

/**
 * A frozen projection with its LoRA: x·Wᵀ + scale·(xd·Aᵀ)·Bᵀ, xd the LoRA input (x after dropout, or x itself).
 * Forward: the frozen product, then the two small products added into it; backward: dx = dy·W (+ du·A when xd is
 * x), du = scale·dy·B, dAᵀ = xdᵀ·du, dBᵀ = scale·uᵀ·dy. Aᵀ [in, r] and Bᵀ [r, out] are the adapter's variables.
 */
export function fusedLoraLinearCpu(
  f: FusedOps,
  x: tf.Tensor2D,
  xd: tf.Tensor2D | undefined,
  w: CpuMatrix,
  aT: tf.Tensor2D,
  bT: tf.Tensor2D,
  scale: number,
): tf.Tensor2D {
  const gemm = cpuGemm()!;
  const [n, inF] = x.shape;
  const [r, outF] = bT.shape;
  const separate = xd !== undefined;
  const op = tf.customGrad((...args) => {
    const xi = args[0] as tf.Tensor2D;
    const di = (separate ? args[1] : xi) as tf.Tensor2D;
    const [ai, bi] = args.slice(separate ? 2 : 1, separate ? 4 : 3) as tf.Tensor2D[];
    const save = args[separate ? 4 : 3] as tf.GradSaveFunc;
    const [y, u] = cpuTensors(
      [
        [n, outF],
        [n, r],
      ],
      ([yv, uv]) => {
        const xv = tensorValues(xi);
        gemm.product(w, 'xwt', xv, n, yv);
        f.sgemm(false, false, n, r, inF, 1, separate ? tensorValues(di) : xv, inF, tensorValues(ai), r, 0, uv, r);
        f.sgemm(false, false, n, outF, r, scale, uv, r, tensorValues(bi), outF, 1, yv, outF);
      },
    );
    save([di, ai, bi, u]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [ds, as, bs, us] = saved;
        const du = new Float32Array(n * r);
        const shapes = separate
          ? [
              [n, inF],
              [n, inF],
              [inF, r],
              [r, outF],
            ]
          : [
              [n, inF],
              [inF, r],
              [r, outF],
            ];
        return cpuTensors(shapes, (outs) => {
          const [dx, dxd, daT, dbT] = separate ? outs : [outs[0], undefined, outs[1], outs[2]];
          const g = tensorValues(dy as tf.Tensor);
          const av = tensorValues(as);
          const xdv = tensorValues(ds);
          f.sgemm(false, true, n, r, outF, scale, g, outF, tensorValues(bs), outF, 0, du, r);
          gemm.product(w, 'dyw', g, n, dx);
          if (dxd) f.sgemm(false, true, n, inF, r, 1, du, r, av, r, 0, dxd, inF);
          else f.sgemm(false, true, n, inF, r, 1, du, r, av, r, 1, dx, inF);
          f.sgemm(true, false, inF, r, n, 1, xdv, inF, du, r, 0, daT, r);
          f.sgemm(true, false, r, outF, n, scale, tensorValues(us), r, g, outF, 0, dbT, outF);
        });
      },
    };
  });
  return (separate ? op(x, xd, aT, bT) : op(x, aT, bT)) as tf.Tensor2D;
}
