import * as tf from '@tensorflow/tfjs';
import { fusedMaskedSoftmax, fusedRmsNorm, fusedSwiGlu, onWebgpu } from '../backend/webgpu-kernels.ts';
import { fusedRopeHeads } from '../backend/webgpu-rope.ts';
import { tiledBatchMatMul } from '../backend/webgpu-batched-matmul.ts';
import { cpuFused, fusedAttentionCpu, fusedRmsNormCpu, fusedSwiGluCpu } from '../backend/cpu-fused.ts';
import type { LlamaConfig } from '../llama/config.ts';
import type { KVCache } from './kv-cache.ts';
import { applyRope, ropeTables } from './rope.ts';
import { frozenMatMul } from './ops.ts';
import { embedTokens } from './frozen-matrix.ts';
import { checkpointedLayer } from './layer-recompute.ts';
import type { ProjectionName } from '../llama/projection-names.ts';
import type { FrozenLinear, LlamaWeights } from './weights.ts';

/**
 * A projection as the forward pass calls it: x [N, in] → [N, out]. The default is the frozen layer alone;
 * LoRA passes its own (base + scale·B·A·dropout(x)) without the model knowing anything about adapters.
 */
export type ProjectionFn = (x: tf.Tensor2D, layer: number, name: ProjectionName, base: FrozenLinear) => tf.Tensor2D;

export interface ForwardOptions {
  /** Generation: reuse and extend this cache; positions continue from cache.length. */
  cache?: KVCache;
  /** [B, T] 1 for real tokens, 0 for left padding (training batches). Not combined with a cache. */
  attentionMask?: tf.Tensor2D;
  /** Only the last position's logits (generation). */
  lastOnly?: boolean;
  projection?: ProjectionFn;
  /**
   * Training only: gradient checkpointing. Each decoder layer keeps only its input; the backward pass recomputes the
   * layer. The function names the tensors, besides the input, that a layer's gradient must reach (its LoRA weights).
   */
  checkpoint?: (layer: number) => tf.Tensor[];
}

/** The score a masked key gets: exp(MASKED − max) is 0 in f32, and a row with every key masked stays finite. */
const MASKED = -1e9;

export const applyFrozen: ProjectionFn = (x, _layer, _name, base) => linear(x, base);

function linear(x: tf.Tensor2D, base: FrozenLinear): tf.Tensor2D {
  const y = frozenMatMul(x, base); // [N, out]
  return base.bias ? tf.add(y, base.bias) : y;
}

/** RMSNorm as LLaMA defines it: x / sqrt(mean(x²) + eps) · w, over the last axis. */
function rmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  if (onWebgpu() && x.rank === 2) return fusedRmsNorm(x as unknown as tf.Tensor2D, weight, eps) as unknown as T;
  const fused = x.rank === 2 ? cpuFused() : undefined;
  if (fused) return fusedRmsNormCpu(fused, x as unknown as tf.Tensor2D, weight, eps) as unknown as T;
  return tf.tidy(() => {
    const variance = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight) as T;
  });
}

export class LlamaModel {
  constructor(
    readonly config: LlamaConfig,
    readonly weights: LlamaWeights,
  ) {}

  /** ids [B, T] (int32) → logits [B, T, V] ([B, 1, V] with lastOnly). */
  forward(ids: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
    const { config: c, weights: w } = this;
    const project = opts.projection ?? applyFrozen;
    const [B, T] = ids.shape;
    const past = opts.cache?.length ?? 0;
    return tf.tidy(() => {
      // RoPE tables and the mask [B|1, 1, T, past+T], shared by every layer
      const context: LayerContext = { ...ropeTables(c, past, T), ...attentionMask(T, past, opts.attentionMask) };
      let h = embedTokens(w.embed, ids); // [B·T, H]
      for (let l = 0; l < c.numLayers; l++) {
        const layer = (x: tf.Tensor2D, ctx: LayerContext) => this.decoderLayer(x, l, B, T, ctx, project, opts.cache);
        // A tidy per layer: without a tape (evaluation, generation) a layer's intermediates go when it ends, not
        // when the whole forward does (~44 MiB a layer at TinyLlama's widths and 128 tokens).
        const input = h;
        h = tf.tidy(() => (opts.checkpoint ? checkpointedLayer(layer, input, context, opts.checkpoint(l)) : layer(input, context)));
      }
      opts.cache?.advance(T);

      let last = tf.reshape(h, [B, T, c.hiddenSize]) as tf.Tensor3D;
      if (opts.lastOnly) last = tf.slice(last, [0, T - 1, 0], [B, 1, c.hiddenSize]);
      const rows = last.shape[1];
      const normed = rmsNorm(tf.reshape(last, [B * rows, c.hiddenSize]) as tf.Tensor2D, w.norm, c.rmsNormEps);
      const logits = frozenMatMul(normed, w.lmHead); // [B·rows, V]
      return tf.reshape(logits, [B, rows, c.vocabSize]) as tf.Tensor3D;
    });
  }

  /** One decoder layer on the residual stream h [B·T, H] → [B·T, H]. */
  private decoderLayer(
    h: tf.Tensor2D,
    l: number,
    B: number,
    T: number,
    ctx: LayerContext,
    project: ProjectionFn,
    cache: KVCache | undefined,
  ): tf.Tensor2D {
    const c = this.config;
    const layer = this.weights.layers[l];
    const x = rmsNorm(h, layer.inputNorm, c.rmsNormEps); // [B·T, H]
    const fused = cache ? undefined : cpuFused();
    let merged: tf.Tensor2D;
    if (fused) {
      // the native CPU kernels: RoPE, attention and the head layout in one op each way
      const q = project(x, l, 'q_proj', layer.proj.q_proj);
      const k = project(x, l, 'k_proj', layer.proj.k_proj);
      const v = project(x, l, 'v_proj', layer.proj.v_proj);
      const heads = { B, T, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim, cos: ctx.cos, sin: ctx.sin, keep: ctx.keep };
      merged = fusedAttentionCpu(fused, q, k, v, heads);
    } else merged = this.attention(x, l, B, T, ctx, project, cache);
    const mid = tf.add(h, project(merged, l, 'o_proj', layer.proj.o_proj)) as tf.Tensor2D;

    const y = rmsNorm(mid, layer.postNorm, c.rmsNormEps);
    const gate = project(y, l, 'gate_proj', layer.proj.gate_proj); // [B·T, F]
    const up = project(y, l, 'up_proj', layer.proj.up_proj);
    const act = swiGlu(gate, up);
    return tf.add(mid, project(act as tf.Tensor2D, l, 'down_proj', layer.proj.down_proj)) as tf.Tensor2D;
  }

  /** The attention block with tfjs ops: x [B·T, H] → merged heads [B·T, nH·D], through the KV cache when given. */
  private attention(
    x: tf.Tensor2D,
    l: number,
    B: number,
    T: number,
    ctx: LayerContext,
    project: ProjectionFn,
    cache: KVCache | undefined,
  ): tf.Tensor2D {
    const c = this.config;
    const layer = this.weights.layers[l];
    const qr = ropeHeads(project(x, l, 'q_proj', layer.proj.q_proj), B, T, c.numHeads, ctx.cos, ctx.sin); // [B, nH, T, D]
    let kr = ropeHeads(project(x, l, 'k_proj', layer.proj.k_proj), B, T, c.numKvHeads, ctx.cos, ctx.sin); // [B, nKV, T, D]
    const v = toHeads(project(x, l, 'v_proj', layer.proj.v_proj), B, T, c.numKvHeads, c.headDim);
    let vAll = v;
    if (cache) ({ k: kr, v: vAll } = cache.append(l, kr, v)); // [B, nKV, past+T, D]

    const attn = groupedAttention(qr, kr, vAll, ctx, c); // [B, nH, T, D]
    return tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [B * T, c.numHeads * c.headDim]) as tf.Tensor2D;
  }
}

/** What every layer of one forward pass shares: the RoPE tables and the attention mask. */
interface LayerContext extends AttentionMask {
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
}

/** SwiGLU: silu(gate)·up. */
function swiGlu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  if (onWebgpu()) return fusedSwiGlu(gate, up);
  const fused = cpuFused();
  return fused ? fusedSwiGluCpu(fused, gate, up) : (tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D);
}

/** [B·T, heads·D] → [B, heads, T, D]. */
function toHeads(x: tf.Tensor2D, B: number, T: number, heads: number, d: number): tf.Tensor4D {
  return tf.transpose(tf.reshape(x, [B, T, heads, d]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** A projection's output [B·T, heads·D] as rotated heads [B, heads, T, D]; on WebGPU one kernel does both steps. */
function ropeHeads(x: tf.Tensor2D, B: number, T: number, heads: number, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  if (onWebgpu()) return fusedRopeHeads(x, B, heads, cos, sin);
  return applyRope(toHeads(x, B, T, heads, cos.shape[1]), cos, sin);
}

/**
 * Causal GQA attention without copying K and V per query head: the rep = nH/nKV query heads that share a KV
 * head are stacked along the time axis, so one product per KV head serves them all.
 * q [B, nH, T, D], k and v [B, nKV, S, D], mask [B|1, 1, T, S] → [B, nH, T, D].
 */
function groupedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: AttentionMask, c: LlamaConfig): tf.Tensor4D {
  const [B, nH, T, D] = q.shape;
  const nKV = k.shape[1];
  const rep = nH / nKV;
  const qg = tf.reshape(q, [B, nKV, rep * T, D]) as tf.Tensor4D; // query head h = g·rep + j sits in group g, rows j·T … j·T+T-1
  const scale = 1 / Math.sqrt(c.headDim);
  // On WebGPU both products (and their gradients) run in our register-tiled kernel (webgpu-batched-matmul.ts).
  const matMul = onWebgpu()
    ? tiledBatchMatMul
    : (a: tf.Tensor4D, b: tf.Tensor4D, tA?: boolean, tB?: boolean) => tf.matMul(a, b, tA, tB) as tf.Tensor4D;
  const raw = matMul(qg, k, false, true); // [B, nKV, rep·T, S]
  const stack = (t: tf.Tensor4D) => (rep === 1 ? t : tf.tile(t, [1, 1, rep, 1])); // [B|1, 1, rep·T, S]
  const probs = onWebgpu()
    ? fusedMaskedSoftmax(raw, mask.keep, scale)
    : tf.softmax(tf.add(tf.mul(tf.mul(raw, scale), stack(mask.keep)), stack(mask.fill)));
  const out = matMul(probs as tf.Tensor4D, v); // [B, nKV, rep·T, D]
  return tf.reshape(out, [B, nH, T, D]) as tf.Tensor4D;
}

/** keep is 1 where a query may see a key, 0 elsewhere; fill is MASKED where keep is 0. scores·keep + fill. */
interface AttentionMask {
  keep: tf.Tensor4D;
  fill: tf.Tensor4D;
}

/**
 * Mask [B|1, 1, T, past+T]: query i (absolute position past+i) sees keys j ≤ past+i, never a key the padding mask
 * marks 0. Masked scores are replaced (not offset), so a padding row, which sees nothing, attends uniformly to
 * every key: what transformers' eager attention does once its min-float mask saturates.
 */
function attentionMask(T: number, past: number, padding?: tf.Tensor2D): AttentionMask {
  const S = past + T;
  const causal = new Float32Array(T * S);
  for (let i = 0; i < T; i++) for (let j = 0; j <= past + i; j++) causal[i * S + j] = 1;
  let keep = tf.tensor4d(causal, [1, 1, T, S]);
  if (padding) keep = tf.mul(keep, tf.reshape(tf.cast(padding, 'float32'), [padding.shape[0], 1, 1, S]));
  return { keep, fill: tf.mul(tf.sub(1, keep), MASKED) as tf.Tensor4D };
}
