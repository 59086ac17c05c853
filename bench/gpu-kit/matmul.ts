import * as tf from '@tensorflow/tfjs';
import { disposePacked, packForGpu, packedMatMul } from '../../main/engine/backend/webgpu-packed-matmul.ts';
import { storeMatrix } from '../../main/engine/llama/block-quant.ts';

/**
 * TFLOP/s of our product y [M, N] = x [M, K] · Wᵀ (W [N, K], a frozen weight) on the current backend: tfjs's f32
 * matMul and our packed kernel with f16, int8 and nf4 weights. Mean of `reps` products after 2 warm-ups, each read back (the GPU finished).
 */
export async function timeProducts(m: number, k: number, n: number, reps: number): Promise<Record<string, number | string>> {
  const x = tf.randomNormal([m, k]) as tf.Tensor2D;
  const wValues = (await tf.randomNormal([n, k], 0, 0.02).data()) as Float32Array;
  const w = tf.tensor2d(wValues, [n, k]);
  const packed = (['f16', 'int8', 'nf4'] as const).map((dtype) => ({ dtype, m: packForGpu(storeMatrix(wValues, n, k, dtype)) }));
  const out: Record<string, number | string> = { shape: `${m}x${k}x${n}` };
  const time = async (name: string, product: () => tf.Tensor) => {
    for (let i = 0; i < 2; i++) await readOne(product());
    const start = performance.now();
    for (let i = 0; i < reps; i++) {
      const y = product();
      if (i === reps - 1) await readOne(y);
      else y.dispose();
    }
    out[name] = (2 * m * k * n * reps) / ((performance.now() - start) / 1000) / 1e12;
  };
  await time('f32_tflops', () => tf.matMul(x, w, false, true));
  for (const p of packed) await time(`${p.dtype}_weights_tflops`, () => packedMatMul(x, p.m));
  tf.dispose([x, w]);
  for (const p of packed) disposePacked(p.m);
  return out;
}

async function readOne(t: tf.Tensor): Promise<void> {
  const s = tf.slice(t.reshape([-1]), 0, 1);
  await s.data();
  tf.dispose([s, t]);
}
