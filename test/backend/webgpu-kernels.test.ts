// The fused WGSL kernels against the plain tfjs ops that define them, on the same WebGPU (SwiftShader) backend:
// values and gradients, for shapes with odd sizes, grouped heads and padded (fully masked) rows.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { relDiff, startWebgpuSoftware } from '../helpers/webgpu.ts';
import { fusedMaskedSoftmax, fusedRmsNorm, fusedSwiGlu } from '../../main/engine/backend/webgpu-kernels.ts';

const skip = await startWebgpuSoftware('webgpu kernels');

/** How many kernels tfjs runs for f (the fused ones are one each). */
async function kernelCount(f: () => tf.Tensor): Promise<number> {
  const info = await tf.profile(() => f());
  return info.kernels.length;
}

describe.skipIf(skip)('fused WebGPU kernels equal the plain tfjs ops', () => {
  const plainRmsNorm = (x: tf.Tensor2D, w: tf.Tensor1D, eps: number) =>
    tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
  const plainSwiGlu = (g: tf.Tensor, u: tf.Tensor) => tf.mul(tf.mul(g, tf.sigmoid(g)), u);

  it('RMSNorm: values and the gradient for x, in one kernel each', async () => {
    const x = tf.randomNormal([37, 200], 0, 1, 'float32', 1) as tf.Tensor2D;
    const w = tf.randomNormal([200], 1, 0.1, 'float32', 2) as tf.Tensor1D;
    const dy = tf.randomNormal([37, 200], 0, 1, 'float32', 3);
    expect(await relDiff(fusedRmsNorm(x, w, 1e-5), plainRmsNorm(x, w, 1e-5))).toBeLessThan(1e-6);
    expect(await relDiff(fusedRmsNorm(x, w, 0.5), plainRmsNorm(x, w, 1e-5))).toBeGreaterThan(1e-2); // eps reaches the kernel
    const grad = (f: typeof plainRmsNorm) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor2D, w, 1e-5), dy)))(x);
    expect(await relDiff(grad(fusedRmsNorm), grad(plainRmsNorm))).toBeLessThan(1e-5);
    expect(await kernelCount(() => fusedRmsNorm(x, w, 1e-5))).toBe(1);
    expect(await kernelCount(() => plainRmsNorm(x, w, 1e-5))).toBeGreaterThanOrEqual(5);
  });

  it('SwiGLU: values and both gradients', async () => {
    const g = tf.randomNormal([37, 300], 0, 2, 'float32', 4) as tf.Tensor2D;
    const u = tf.randomNormal([37, 300], 0, 1, 'float32', 5) as tf.Tensor2D;
    const dy = tf.randomNormal([37, 300], 0, 1, 'float32', 6);
    expect(await relDiff(fusedSwiGlu(g, u), plainSwiGlu(g, u))).toBeLessThan(1e-6);
    const grads = (f: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D), dy)))([g, u]);
    const [fg, fu] = grads(fusedSwiGlu);
    const [pg, pu] = grads(plainSwiGlu);
    expect(await relDiff(fg, pg)).toBeLessThan(1e-5);
    expect(await relDiff(fu, pu)).toBeLessThan(1e-5);
    expect(await kernelCount(() => fusedSwiGlu(g, u))).toBe(1);
  });

  // [B, groups, rep, T, S, batches in the mask]: grouped heads, a KV cache (S > T) and a padded row.
  it.each([
    [2, 2, 2, 5, 5, 2],
    [1, 3, 1, 4, 9, 1],
    [2, 1, 3, 7, 7, 1],
  ])('masked attention softmax B=%i G=%i rep=%i T=%i S=%i: values and gradient', async (B, G, rep, T, S, maskBatches) => {
    const raw = tf.randomNormal([B, G, rep * T, S], 0, 3, 'float32', 7) as tf.Tensor4D;
    const keepValues = new Float32Array(maskBatches * T * S).map((_, i) => (i % S <= (Math.floor(i / S) % T) + (S - T) ? 1 : 0));
    if (maskBatches > 1) keepValues.fill(0, T * S, T * S + S); // batch 1's first query sees nothing: a padding row
    const keep = tf.tensor4d(keepValues, [maskBatches, 1, T, S]);
    const fill = tf.mul(tf.sub(1, keep), -1e9) as tf.Tensor4D;
    const stack = (t: tf.Tensor4D) => (rep === 1 ? t : tf.tile(t, [1, 1, rep, 1]));
    const scale = 0.35;
    const plain = (r: tf.Tensor) => tf.softmax(tf.add(tf.mul(tf.mul(r, scale), stack(keep)), stack(fill)));
    const fused = (r: tf.Tensor) => fusedMaskedSoftmax(r as tf.Tensor4D, keep, scale);
    expect(await relDiff(fused(raw), plain(raw))).toBeLessThan(1e-6);
    const dy = tf.randomNormal(raw.shape, 0, 1, 'float32', 8);
    const grad = (f: (r: tf.Tensor) => tf.Tensor) => tf.grad((r: tf.Tensor) => tf.sum(tf.mul(f(r), dy)))(raw);
    expect(await relDiff(grad(fused), grad(plain))).toBeLessThan(1e-5);
  });
});
