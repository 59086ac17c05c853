import * as tf from '@tensorflow/tfjs';
import type { LlamaConfig } from '../llama/config.ts';
import { ropeInverseFrequencies } from '../llama/rope-frequencies.ts';

export { ropeInverseFrequencies } from '../llama/rope-frequencies.ts';

/**
 * cos and sin tables for positions [start, start + length), in HF's rotate-half layout: row p is
 * [cos(p·θ_0) … cos(p·θ_{d/2-1}), cos(p·θ_0) … cos(p·θ_{d/2-1})] (the same for sin).
 */
export function ropeTables(config: LlamaConfig, start: number, length: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const inv = ropeInverseFrequencies(config);
  const d = config.headDim;
  const half = d / 2;
  const positionScale = config.ropeScaling.kind === 'linear' ? 1 / config.ropeScaling.factor : 1;
  const cos = new Float32Array(length * d);
  const sin = new Float32Array(length * d);
  for (let t = 0; t < length; t++) {
    const p = (start + t) * positionScale;
    for (let i = 0; i < half; i++) {
      // PyTorch computes the angle in f32 (inv_freq f32 × position f32): round the same way.
      const angle = Math.fround(Math.fround(inv[i]) * Math.fround(p));
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[t * d + i] = c;
      cos[t * d + i + half] = c;
      sin[t * d + i] = s;
      sin[t * d + i + half] = s;
    }
  }
  return { cos: tf.tensor2d(cos, [length, d]), sin: tf.tensor2d(sin, [length, d]) };
}

/**
 * Apply rotary embeddings to x [B, heads, T, D] with tables [T, D]: x·cos + rotate_half(x)·sin,
 * where rotate_half(x) = [-x2, x1] on the two halves of the last axis.
 */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const half = x.shape[3] / 2;
    const [x1, x2] = tf.split(x, [half, half], 3); // [B, H, T, D/2] each
    const rotated = tf.concat([tf.neg(x2), x1], 3); // [B, H, T, D]
    return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
  });
}
