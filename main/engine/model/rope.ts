import * as tf from '@tensorflow/tfjs';
import type { LlamaConfig } from './config.ts';

/**
 * Inverse frequencies θ_i = base^(-2i/d) for i < d/2, with Llama-3's frequency-dependent scaling or linear scaling
 * applied the way transformers' `_compute_llama3_parameters` / `_compute_linear_scaling_rope_parameters` do.
 * Computed in f64 and rounded once, so tables match PyTorch's f32 tables to the last bit or two.
 */
export function ropeInverseFrequencies(config: LlamaConfig): Float64Array {
  const half = config.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(config.ropeTheta, (2 * i) / config.headDim);
  const s = config.ropeScaling;
  if (s.kind === 'llama3') {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = inv[i] / s.factor;
      else if (wavelen >= highWavelen) {
        // Between the two cut-offs: blend scaled and unscaled frequencies.
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

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
