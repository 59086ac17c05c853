// The fused RoPE, LoRA and cross-entropy kernels against the plain tfjs ops that define them, on the same WebGPU
// (SwiftShader) backend: values and gradients, with the largest differences printed.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { relDiff, startWebgpuSoftware } from '../helpers/webgpu.ts';
import { fusedRopeHeads } from '../../main/engine/backend/webgpu-rope.ts';
import { fusedLoraUp } from '../../main/engine/backend/webgpu-lora.ts';
import { fusedCrossEntropySum } from '../../main/engine/backend/webgpu-cross-entropy.ts';
import { applyRope } from '../../main/engine/model/rope.ts';

const skip = await startWebgpuSoftware('webgpu fusions');

/** max |a − b| (absolute), printed beside the relative difference the test checks. */
async function report(what: string, a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const rel = await relDiff(a, b);
  const abs = (await tf.max(tf.abs(tf.sub(a, b))).data())[0];
  console.log(`${what}: max |fused − plain| = ${abs.toExponential(2)} (relative ${rel.toExponential(2)})`);
  return rel;
}

/** Dispatches (runWebGPUProgram calls) f makes. */
async function dispatches(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const backend = tf.backend() as unknown as { runWebGPUProgram: (...a: unknown[]) => unknown };
  const original = backend.runWebGPUProgram;
  let n = 0;
  backend.runWebGPUProgram = function (...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  try {
    tf.dispose(f());
  } finally {
    backend.runWebGPUProgram = original;
  }
  return n;
}

describe.skipIf(skip)('fused RoPE, LoRA and cross-entropy equal the plain tfjs ops on WebGPU', () => {
  it('RoPE from the projection [B·T, H·D] to heads [B, H, T, D]: values, gradient, one dispatch each way', async () => {
    const [B, T, H, D] = [2, 5, 3, 8];
    const x = tf.randomNormal([B * T, H * D], 0, 1, 'float32', 11) as tf.Tensor2D;
    // Tables whose halves differ, so the backward's sin[t, p(d)] is checked (ropeTables' halves are equal).
    const cos = tf.randomNormal([T, D], 0, 1, 'float32', 12) as tf.Tensor2D;
    const sin = tf.randomNormal([T, D], 0, 1, 'float32', 13) as tf.Tensor2D;
    const plain = (t: tf.Tensor) => applyRope(tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3]) as tf.Tensor4D, cos, sin);
    const fused = (t: tf.Tensor) => fusedRopeHeads(t as tf.Tensor2D, B, H, cos, sin);
    expect(await report('rope forward', fused(x), plain(x))).toBeLessThan(1e-6);
    const dy = tf.randomNormal([B, H, T, D], 0, 1, 'float32', 14);
    const grad = (f: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(x);
    expect(await report('rope gradient', grad(fused), grad(plain))).toBeLessThan(1e-6);
    expect(await dispatches(() => fused(x))).toBe(1);
    expect(await dispatches(() => plain(x))).toBeGreaterThanOrEqual(6);
  });

  it('LoRA up-projection base + scale·u·Bᵀ: values and the gradients of base, u and Bᵀ', async () => {
    const [N, r, out] = [13, 8, 20]; // N not a multiple of the 4-row tile
    const base = tf.randomNormal([N, out], 0, 1, 'float32', 21) as tf.Tensor2D;
    const u = tf.randomNormal([N, r], 0, 1, 'float32', 22) as tf.Tensor2D;
    const bT = tf.randomNormal([r, out], 0, 0.5, 'float32', 23) as tf.Tensor2D;
    const scale = 2.5;
    const plain = (b: tf.Tensor, uu: tf.Tensor, w: tf.Tensor) => tf.add(b, tf.mul(tf.matMul(uu as tf.Tensor2D, w as tf.Tensor2D), scale));
    const fused = (b: tf.Tensor, uu: tf.Tensor, w: tf.Tensor) => fusedLoraUp(b as tf.Tensor2D, uu as tf.Tensor2D, w as tf.Tensor2D, scale);
    expect(await report('lora forward', fused(base, u, bT), plain(base, u, bT))).toBeLessThan(1e-6);
    const dy = tf.randomNormal([N, out], 0, 1, 'float32', 24);
    const grads = (f: typeof plain) =>
      tf.grads((b: tf.Tensor, uu: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(f(b, uu, w), dy)))([base, u, bT]);
    const fg = grads(fused);
    const pg = grads(plain);
    for (const [i, name] of ['d base', 'du', 'dBᵀ'].entries()) expect(await report(`lora ${name}`, fg[i], pg[i])).toBeLessThan(1e-5);
    expect(await dispatches(() => fused(base, u, bT))).toBe(1);
    const [fusedAll, plainAll] = [await dispatches(() => grads(fused)), await dispatches(() => grads(plain))];
    console.log(`lora forward + backward (with the test's sum·dy): ${fusedAll} dispatches fused, ${plainAll} plain`);
    expect(fusedAll).toBeLessThan(plainAll);
  });

  it('cross-entropy: per-row loss and (softmax − onehot)·w·dy, ignored rows give 0, large logits stay finite', async () => {
    const [N, V] = [9, 70];
    // Rows 0–2 hold logits around ±1e4: a plain exp would overflow; row 4 and 7 are ignored (weight 0).
    const values = tf.randomNormal([N, V], 0, 3, 'float32', 31);
    const logits = tf.add(values, tf.reshape(tf.tensor1d([1e4, -1e4, 5e3, 0, 0, 0, 0, 0, 0]), [N, 1])) as tf.Tensor2D;
    const targets = Int32Array.from([3, 69, 0, 17, 5, 44, 2, 0, 68]);
    const weights = Float32Array.from([1, 1, 0.5, 1, 0, 1, 1, 0, 1]);
    const plain = (x: tf.Tensor) => {
      const lse = tf.logSumExp(x, -1, true);
      const picked = tf.reshape(
        tf.gather(
          tf.reshape(x, [-1]),
          tf.tensor1d(
            targets.map((t, n) => n * V + t),
            'int32',
          ),
        ),
        [N, 1],
      );
      return tf.sum(tf.mul(tf.sub(lse, picked), tf.tensor2d(weights, [N, 1])));
    };
    const fused = (x: tf.Tensor) => fusedCrossEntropySum(x as tf.Tensor2D, tf.tensor1d(targets, 'int32'), tf.tensor1d(weights));
    const [fl, pl] = [await fused(logits).data(), await plain(logits).data()];
    console.log(`cross-entropy: fused ${fl[0]} plain ${pl[0]}, |Δ| = ${Math.abs(fl[0] - pl[0]).toExponential(2)}`);
    expect(Number.isFinite(fl[0])).toBe(true);
    expect(Math.abs(fl[0] - pl[0]) / Math.abs(pl[0])).toBeLessThan(1e-6);
    const dyScale = 0.37; // the loss is divided by the token count downstream: dy ≠ 1
    const grad = (f: (x: tf.Tensor) => tf.Tensor) => tf.grad((x: tf.Tensor) => tf.mul(f(x), dyScale))(logits);
    const fg = grad(fused);
    expect(await report('cross-entropy gradient', fg, grad(plain))).toBeLessThan(1e-6);
    const ignored = await tf.gather(fg, tf.tensor1d([4, 7], 'int32')).data();
    expect(ignored.every((g) => g === 0)).toBe(true);
    const fgv = await fg.data();
    expect(fgv.every(Number.isFinite)).toBe(true);
    expect(await dispatches(() => fused(logits))).toBe(2); // per-row loss, then the sum
  });
});
