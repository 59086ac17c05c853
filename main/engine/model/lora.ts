import * as tf from '@tensorflow/tfjs';
import { mixSeeds } from '../data/prng.ts';
import { StudioError } from '../errors.ts';
import { peftKey } from '../formats/peft-adapter.ts';
import type { LlamaConfig } from '../llama/config.ts';
import type { ProjectionFn } from './llama.ts';
import { PROJECTIONS, projectionShape, unknownProjections, type ProjectionName } from '../llama/projections.ts';
import { applyFrozen } from './llama.ts';
import { loraScale } from '../llama/lora-scale.ts';
import { onWebgpu } from '../backend/webgpu-kernels.ts';
import { fusedLoraFits, fusedLoraUp } from '../backend/webgpu-lora.ts';
import { cpuFused, fusedLoraLinearCpu } from '../backend/cpu-fused.ts';

interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: ProjectionName[];
  /** rsLoRA: scale by alpha/√r instead of alpha/r. */
  useRslora: boolean;
}

/** Where a training run draws a dropout mask: the run's seed, the optimizer step and the micro-batch within it. */
export interface DropoutDraw {
  seed: number;
  step: number;
  microBatch: number;
}

/**
 * The seed of one dropout mask, a hash over all five coordinates. A weighted sum (seed·1,000,003 + step·1009 +
 * micro-batch·101 + layer·7 + projection) gave the same seed, and so the same mask, to 1,645 of the 6,144 draws of
 * three Alpaca-default steps; a hash makes every draw of a run its own.
 */
export function dropoutSeed(draw: DropoutDraw, layer: number, name: ProjectionName): number {
  return mixSeeds(draw.seed, draw.step, draw.microBatch, layer, PROJECTIONS.indexOf(name));
}

/** One adapted module: y = W·x + scale · B·A·dropout(x). Stored as Aᵀ [in, r] and Bᵀ [r, out] for 2-D matmuls. */
interface LoraModule {
  layer: number;
  name: ProjectionName;
  /** PEFT key prefix, e.g. `base_model.model.model.layers.0.self_attn.q_proj`. */
  key: string;
  /** alpha / r (or / √r): the settings' in training, the module's own in a loaded adapter (alpha_pattern). */
  scale: number;
  aT: tf.Variable<tf.Rank.R2>; // [in, r]
  bT: tf.Variable<tf.Rank.R2>; // [r, out]
}

/** Check target names early, with the list of valid ones in the message. */
export function checkTargets(targets: string[]): ProjectionName[] {
  if (targets.length === 0) throw new StudioError('lora_target_modules is empty: name at least one of ' + PROJECTIONS.join(', '));
  const [unknown] = unknownProjections(targets);
  if (unknown !== undefined)
    throw new StudioError(`lora_target_modules: "${unknown}" is not a LLaMA projection (choose from ${PROJECTIONS.join(', ')})`);
  return [...new Set(targets)] as ProjectionName[];
}

/** A module's initial weights: A [r, in] and B [out, r] in PEFT's layout, with its own rank and scale when loaded. */
interface ModuleWeights {
  a: Float32Array;
  b: Float32Array;
  /** Default: the settings' r and scale. */
  r?: number;
  scale?: number;
}

/** Every LoRA module of a model, created from given initial values (see lora-init.ts) or from saved tensors. */
export class LoraAdapter {
  readonly modules: LoraModule[] = [];
  private readonly byKey = new Map<string, LoraModule>();

  constructor(
    readonly config: LlamaConfig,
    readonly settings: LoraSettings,
    /** Each (layer, module)'s weights; undefined leaves that module without LoRA (layers_to_transform). */
    initial: (layer: number, name: ProjectionName, inF: number, outF: number) => ModuleWeights | undefined,
  ) {
    const defaultScale = loraScale(settings);
    for (let l = 0; l < config.numLayers; l++) {
      for (const name of PROJECTIONS) {
        if (!settings.targetModules.includes(name)) continue;
        const [outF, inF] = projectionShape(config, name);
        const w = initial(l, name, inF, outF);
        if (!w) continue;
        const r = w.r ?? settings.r;
        const key = peftKey(l, name);
        const m: LoraModule = {
          layer: l,
          name,
          key,
          scale: w.scale ?? defaultScale,
          aT: tf.variable(tf.tidy(() => tf.transpose(tf.tensor2d(w.a, [r, inF]))) as tf.Tensor2D, true),
          bT: tf.variable(tf.tidy(() => tf.transpose(tf.tensor2d(w.b, [outF, r]))) as tf.Tensor2D, true),
        };
        this.modules.push(m);
        this.byKey.set(`${l}.${name}`, m);
      }
    }
  }

  get variables(): tf.Variable[] {
    return this.modules.flatMap((m) => [m.aT, m.bT]);
  }

  /** The LoRA weights of one decoder layer (what a checkpointed layer's gradient must reach). */
  layerVariables(layer: number): tf.Variable[] {
    return this.modules.filter((m) => m.layer === layer).flatMap((m) => [m.aT, m.bT]);
  }

  /** Trainable parameter count (A and B of every module). */
  get parameterCount(): number {
    return this.modules.reduce((n, m) => n + m.aT.size + m.bT.size, 0);
  }

  module(layer: number, name: ProjectionName): LoraModule | undefined {
    return this.byKey.get(`${layer}.${name}`);
  }

  /**
   * The projection to hand to LlamaModel.forward. `dropout` (training only) makes dropout masks a pure
   * function of where they are drawn, so a resumed run draws the same masks as an uninterrupted one.
   */
  projection(opts: { training: boolean; dropout?: DropoutDraw } = { training: false }): ProjectionFn {
    const rate = opts.training ? this.settings.dropout : 0;
    return (x, layer, name, base) => {
      const m = this.module(layer, name);
      if (!m) return applyFrozen(x, layer, name, base);
      const seed = opts.dropout === undefined ? undefined : dropoutSeed(opts.dropout, layer, name);
      const dropped = (rate > 0 ? tf.dropout(x, rate, undefined, seed) : x) as tf.Tensor2D;
      // the native CPU kernels: the frozen product and the LoRA's in one op each way
      const fused = base.cpu && !base.bias ? cpuFused() : undefined;
      if (fused) return fusedLoraLinearCpu(fused, x, dropped === x ? undefined : dropped, base.cpu!, m.aT, m.bT, m.scale);
      return addLoraDelta(applyFrozen(x, layer, name, base), dropped, m, m.scale);
    };
  }

  /** A [r, in] and B [out, r] of each module as PEFT stores them. */
  async exportPeft(): Promise<{ key: string; a: Float32Array; b: Float32Array; aShape: number[]; bShape: number[] }[]> {
    const out = [];
    for (const m of this.modules) {
      const a = tf.transpose(m.aT);
      const b = tf.transpose(m.bT);
      out.push({ key: m.key, a: (await a.data()) as Float32Array, b: (await b.data()) as Float32Array, aShape: a.shape, bShape: b.shape });
      tf.dispose([a, b]);
    }
    return out;
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

/**
 * base_y + scale·(x·Aᵀ)·Bᵀ. On WebGPU the second product, the scale and the add are one kernel (webgpu-lora.ts) and
 * x·Aᵀ is tfjs's matMul, whose gradients take the transposes inside the kernel; elsewhere loraDelta below.
 */
function addLoraDelta(base_y: tf.Tensor2D, x: tf.Tensor2D, m: LoraModule, scale: number): tf.Tensor2D {
  const [r, out] = m.bT.shape;
  if (onWebgpu() && fusedLoraFits(r, out)) return fusedLoraUp(base_y, tf.matMul(x, m.aT), m.bT, scale);
  return tf.add(base_y, tf.mul(loraDelta(x, m.aT, m.bT), scale)) as tf.Tensor2D;
}

/**
 * (x·Aᵀ)·Bᵀ with x [N, in], Aᵀ [in, r], Bᵀ [r, out] → [N, out], and a gradient written with explicit transposes
 * so every product is a non-transposed 2-D matmul (tfjs-wasm's fast path):
 *   u = x·Aᵀ;  dBᵀ = uᵀ·dy;  du = dy·B;  dAᵀ = xᵀ·du;  dx = du·A.
 */
export function loraDelta(x: tf.Tensor2D, aT: tf.Tensor2D, bT: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args) => {
    const [xi, ai, bi] = args as tf.Tensor2D[];
    const save = args[3] as tf.GradSaveFunc;
    const u = tf.matMul(xi, ai); // [N, r]
    save([xi, ai, bi, u]); // tensors made inside the forward are freed unless saved for the gradient
    return {
      value: tf.matMul(u, bi), // [N, out]
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, as, bs, us] = saved as tf.Tensor2D[];
        const g = dy as tf.Tensor2D; // [N, out]
        const du = tf.matMul(g, tf.transpose(bs)); // [N, r]
        return [
          tf.matMul(du, tf.transpose(as)), // dx [N, in]
          tf.matMul(tf.transpose(xs), du), // dAᵀ [in, r]
          tf.matMul(tf.transpose(us), g), // dBᵀ [r, out]
        ];
      },
    };
  });
  return op(x, aT, bT) as tf.Tensor2D;
}
