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
