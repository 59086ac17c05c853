// The native CPU kernels' fused ops (backend/cpu-fused.ts) against the plain tfjs ops that define them, on tfjs-wasm
// (whose heap they read and write in place): values and gradients, odd shapes, GQA, a padding mask; 1 and 2
// threads give the same bits; and a whole model's loss and LoRA gradients with the fused ops and without them.
// Skipped, with the reason, where the addon was not built (see native-build.test.ts).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { cpuMatMul } from '../../main/engine/backend/cpu-matmul.ts';
import {
  CPU_FUSED_ENV,
  cpuFused,
  fusedAttentionCpu,
  fusedLoraLinearCpu,
  fusedRmsNormCpu,
  fusedSwiGluCpu,
} from '../../main/engine/backend/cpu-fused.ts';
import {
  closeCpuGemm,
  CPU_MATMUL_ENV,
  cpuGemm,
  cpuMatmulChoice,
  cpuMatmulPath,
  openCpuGemm,
} from '../../main/engine/cpu-kernels/cpu-matmul-path.ts';
import { loadNativeAddon } from '../../main/engine/cpu-kernels/native-addon.ts';
import { NF4_LEVELS, storeMatrix } from '../../main/engine/llama/block-quant.ts';
import { gemmInput } from '../../main/engine/model/frozen-matrix.ts';
import { loraDelta } from '../../main/engine/model/lora.ts';
import { applyRope } from '../../main/engine/model/rope.ts';
import type { FusedOps } from '../../main/engine/cpu-kernels/fused-ops.ts';

const native = loadNativeAddon();
// the fused ops run where this process takes the native kernels (not under LORA_STUDIO_CPU_MATMUL=relaxed-simd, …)
const choice = cpuMatmulChoice();
const skip = !native.addon ? native.reason : choice === 'auto' || choice === 'native' ? '' : `${CPU_MATMUL_ENV}=${choice}`;
if (skip) console.warn(`fused CPU ops skipped: ${skip}`);

/** max |a − b| / max |b|. */
function relDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let d = 0;
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    s = Math.max(s, Math.abs(y[i]));
  }
  return d / s;
}

const same = (a: tf.Tensor, b: tf.Tensor) => Buffer.from(a.dataSync().buffer).equals(Buffer.from(b.dataSync().buffer));

async function reopen(threads: number): Promise<FusedOps> {
  await closeCpuGemm();
  await openCpuGemm(threads, NF4_LEVELS);
  return cpuFused()!;
}

/** The tfjs ops model/llama.ts's attention runs: RoPE, GQA scores, mask, softmax, values, merged heads. */
function plainAttention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  s: { B: number; T: number; nH: number; nKV: number; D: number; cos: tf.Tensor2D; sin: tf.Tensor2D; keep: tf.Tensor4D },
): tf.Tensor2D {
  const heads = (x: tf.Tensor2D, h: number) => tf.transpose(tf.reshape(x, [s.B, s.T, h, s.D]), [0, 2, 1, 3]) as tf.Tensor4D;
  const rep = s.nH / s.nKV;
  const qr = tf.reshape(applyRope(heads(q, s.nH), s.cos, s.sin), [s.B, s.nKV, rep * s.T, s.D]) as tf.Tensor4D;
  const kr = applyRope(heads(k, s.nKV), s.cos, s.sin);
  const keep = tf.tile(s.keep, [1, 1, rep, 1]);
  const raw = tf.matMul(qr, kr, false, true);
  const probs = tf.softmax(tf.add(tf.mul(tf.mul(raw, 1 / Math.sqrt(s.D)), keep), tf.mul(tf.sub(1, keep), -1e9)));
  const out = tf.reshape(tf.matMul(probs as tf.Tensor4D, heads(v, s.nKV)), [s.B, s.nH, s.T, s.D]);
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [s.B * s.T, s.nH * s.D]) as tf.Tensor2D;
}

describe.skipIf(!!skip)('the native fused ops equal the plain tfjs ops on tfjs-wasm', () => {
  let f: FusedOps;
  beforeAll(async () => {
    await initBackend('wasm', { threads: 2 });
    expect(cpuMatmulPath().kernel).toBe('native-openblas');
    f = await reopen(2);
  });
  afterAll(() => closeCpuGemm());

  it('RMSNorm over a width that is no multiple of 8: values and the gradient of x', () => {
    const x = tf.randomNormal([11, 37], 0, 2, 'float32', 1) as tf.Tensor2D;
    const w = tf.randomNormal([37], 1, 0.3, 'float32', 2) as tf.Tensor1D;
    const plain = (t: tf.Tensor) => tf.mul(tf.mul(t, tf.rsqrt(tf.add(tf.mean(tf.square(t), -1, true), 1e-5))), w);
    const fused = (t: tf.Tensor) => fusedRmsNormCpu(f, t as tf.Tensor2D, w, 1e-5);
    expect(relDiff(fused(x), plain(x))).toBeLessThan(1e-6);
    const dy = tf.randomNormal([11, 37], 0, 1, 'float32', 3);
    const grad = (g: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(g(t), dy)))(x);
    expect(relDiff(grad(fused), grad(plain))).toBeLessThan(1e-5);
  });

  it('SwiGLU over an odd count: values and the gradients of gate and up', () => {
    const g = tf.randomNormal([7, 45], 0, 3, 'float32', 4) as tf.Tensor2D;
    const u = tf.randomNormal([7, 45], 0, 1, 'float32', 5) as tf.Tensor2D;
    const plain = (a: tf.Tensor, b: tf.Tensor) => tf.mul(tf.mul(a, tf.sigmoid(a)), b);
    const fused = (a: tf.Tensor, b: tf.Tensor) => fusedSwiGluCpu(f, a as tf.Tensor2D, b as tf.Tensor2D);
    expect(relDiff(fused(g, u), plain(g, u))).toBeLessThan(1e-6);
    const dy = tf.randomNormal([7, 45], 0, 1, 'float32', 6);
    const grads = (h: typeof plain) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(h(a, b), dy)))([g, u]);
    const [fg, pg] = [grads(fused), grads(plain)];
    expect(relDiff(fg[0], pg[0])).toBeLessThan(1e-5);
    expect(relDiff(fg[1], pg[1])).toBeLessThan(1e-5);
  });

  it('attention with RoPE: GQA 6:2, head width 10, 13 tokens, left padding: values and dq, dk, dv; same bits on 1 and 2 threads', async () => {
    const [B, T, nH, nKV, D] = [3, 13, 6, 2, 10];
    const q = tf.randomNormal([B * T, nH * D], 0, 1, 'float32', 7) as tf.Tensor2D;
    const k = tf.randomNormal([B * T, nKV * D], 0, 1, 'float32', 8) as tf.Tensor2D;
    const v = tf.randomNormal([B * T, nKV * D], 0, 1, 'float32', 9) as tf.Tensor2D;
    // tables whose halves differ, so both halves of the rotation's transpose are checked
    const cos = tf.randomNormal([T, D], 0, 1, 'float32', 10) as tf.Tensor2D;
    const sin = tf.randomNormal([T, D], 0, 1, 'float32', 11) as tf.Tensor2D;
    // causal, and sequence 1 padded on the left by 4, sequence 2 by all but one
    const keepValues = new Float32Array(B * T * T);
    const pad = [0, 4, T - 1];
    for (let b = 0; b < B; b++)
      for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) keepValues[(b * T + i) * T + j] = j >= pad[b] ? 1 : 0;
    const keep = tf.tensor4d(keepValues, [B, 1, T, T]);
    const s = { B, T, nH, nKV, D, cos, sin, keep };
    const plain = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => plainAttention(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, s);
    const fusedWith = (ops: FusedOps) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      fusedAttentionCpu(ops, a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, {
        B,
        T,
        heads: nH,
        kvHeads: nKV,
        headDim: D,
        cos,
        sin,
        keep,
      });
    expect(relDiff(fusedWith(f)(q, k, v), plain(q, k, v))).toBeLessThan(1e-5);
    const dy = tf.randomNormal([B * T, nH * D], 0, 1, 'float32', 12);
    const grads = (h: typeof plain) => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(h(a, b, c), dy)))([q, k, v]);
    const two = grads(fusedWith(f));
    const pg = grads(plain);
    for (const [i, name] of ['dq', 'dk', 'dv'].entries()) expect(relDiff(two[i], pg[i]), name).toBeLessThan(1e-5);
    const one = grads(fusedWith(await reopen(1)));
    for (const i of [0, 1, 2]) expect(same(one[i], two[i])).toBe(true);
    f = await reopen(2);
  });

  it.each(['f32', 'int8'] as const)('a %s projection with its LoRA, with and without dropout: values and dx, dAᵀ, dBᵀ', (mode) => {
    const [n, inF, outF, r] = [9, 70, 45, 5];
    const stored = storeMatrix(tf.randomNormal([outF, inF], 0, 0.5, 'float32', 13).dataSync() as Float32Array, outF, inF, mode);
    const w = cpuGemm()!.upload(gemmInput(stored));
    const x = tf.randomNormal([n, inF], 0, 1, 'float32', 14) as tf.Tensor2D;
    const aT = tf.randomNormal([inF, r], 0, 0.3, 'float32', 15) as tf.Tensor2D;
    const bT = tf.randomNormal([r, outF], 0, 0.3, 'float32', 16) as tf.Tensor2D;
    const dy = tf.randomNormal([n, outF], 0, 1, 'float32', 17);
    for (const rate of [0, 0.25]) {
      const drop = (t: tf.Tensor) => (rate ? (tf.dropout(t, rate, undefined, 99) as tf.Tensor2D) : (t as tf.Tensor2D));
      const plain = (t: tf.Tensor, a: tf.Tensor, b: tf.Tensor) =>
        tf.add(cpuMatMul(t as tf.Tensor2D, w), tf.mul(loraDelta(drop(t), a as tf.Tensor2D, b as tf.Tensor2D), 1.5));
      const fused = (t: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => {
        const d = drop(t);
        return fusedLoraLinearCpu(f, t as tf.Tensor2D, d === t ? undefined : d, w, a as tf.Tensor2D, b as tf.Tensor2D, 1.5);
      };
      expect(relDiff(fused(x, aT, bT), plain(x, aT, bT)), `rate ${rate}`).toBeLessThan(1e-5);
      const grads = (h: typeof plain) =>
        tf.grads((t: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(h(t, a, b), dy)))([x, aT, bT]);
      const [fg, pg] = [grads(fused), grads(plain)];
      for (const [i, name] of ['dx', 'dAᵀ', 'dBᵀ'].entries()) expect(relDiff(fg[i], pg[i]), `${name}, rate ${rate}`).toBeLessThan(1e-5);
    }
    cpuGemm()!.release(w);
  });

  it('are off with LORA_STUDIO_CPU_FUSED=off', () => {
    process.env[CPU_FUSED_ENV] = 'off';
    try {
      expect(cpuFused()).toBeUndefined();
    } finally {
      delete process.env[CPU_FUSED_ENV];
    }
    expect(cpuFused()).toBeDefined();
  });
});
