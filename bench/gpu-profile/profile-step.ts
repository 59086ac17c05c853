import * as tf from '@tensorflow/tfjs';
import type { BaseDtype } from '../../main/engine/llama/base-dtype-names.ts';
import { parseLlamaConfig } from '../../main/engine/llama/config.ts';
import { LlamaModel } from '../../main/engine/model/llama.ts';
import { LoraAdapter, checkTargets } from '../../main/engine/model/lora.ts';
import { loadLlamaWeights } from '../../main/engine/model/weights.ts';
import { AdamW, clipGlobalNorm } from '../../main/engine/train/adamw.ts';
import { microBatchGradients } from '../../main/engine/train/step.ts';
import { KIT_SHAPES } from '../gpu-kit/shapes.ts';
import { syntheticConfigJson } from '../../main/engine/synthetic/synthetic-model.ts';
import type { Machine } from './dispatch-cost.ts';
import { syntheticTensorSource } from './memory-source.ts';
import { profileStep, scaleToLayers, type StepProfile } from './predict.ts';
import { DispatchRecorder } from './recorder.ts';

/**
 * The default machine: an H200 running our f32 WGSL. 6 µs a dispatch is what Dawn costs per dispatch (DESIGN.md,
 * measured in Chrome on an A100). 25 TFLOP/s: WGSL f32 GEMMs reached ~76% of an A100's 19.5 TFLOP/s fp32 peak, and
 * the H200's fp32 peak is ~67 (datasheet); we assume well under that share until measured (the GPU kit measures
 * it). 3.0 TB/s: ~70% of the 4.3 TB/s a device-to-device copy moved on the lent H200 (read + written).
 */
export const H200_F32_WGSL: Machine = { flopsPerSecond: 25e12, bytesPerSecond: 3.0e12, dispatchSeconds: 6e-6 };

export interface ProfileSettings {
  shape: string;
  batch: number;
  seq: number;
  r: number;
  targets: string[];
  /** The frozen base's storage (f32, f16; int8, nf4 where the loader has them). */
  base: string;
  /** Run every workgroup (a hardware adapter), or one per program (shapes only: a software adapter). */
  execute: boolean;
}

export interface ProfileResult {
  settings: ProfileSettings & { layers: number; matmul: string };
  machine: Machine;
  step: StepProfile;
  slices: { one: StepProfile; two: StepProfile };
  predictedTokensPerSecond: number;
  /** With `execute`: the recorded steps' wall time, scaled to the model's depth like the profile. */
  measuredStepSeconds?: number;
}

/**
 * Every dispatch of one LoRA training step (forward, backward, gradient clipping, AdamW) on the current WebGPU
 * backend, on a model of the shape's width. A model of N layers is profiled as 1- and 2-layer slices with in-memory
 * weights and scaled (per program: one + (N−1)·(two − one)), so a TinyLlama-sized step needs only its shapes.
 */
export async function profileTrainingStep(s: ProfileSettings, machine: Machine = H200_F32_WGSL): Promise<ProfileResult> {
  const shape = KIT_SHAPES[s.shape];
  if (!shape) throw new Error(`gpu-profile: unknown shape ${s.shape} (${Object.keys(KIT_SHAPES).join(', ')})`);
  const targets = checkTargets(s.targets);
  const recorder = new DispatchRecorder(s.execute);
  recorder.install();
  const slice = async (layers: number) => {
    // Everything this slice makes (weights, activations) is freed at the scope's end; variables by their owners.
    tf.engine().startScope();
    try {
      const config = parseLlamaConfig({ ...syntheticConfigJson(shape), num_hidden_layers: layers });
      // The in-memory source is f32; the base is stored in the asked mode and packed for the device, as loadModel does.
      const storage = { mode: s.base as BaseDtype, native: 'f32' as const, backendName: tf.getBackend(), placement: 'device' as const };
      const weights = await loadLlamaWeights(syntheticTensorSource(config), config, `synthetic ${s.shape}`, storage);
      const model = new LlamaModel(config, weights);
      const adapter = new LoraAdapter(
        config,
        { r: s.r, alpha: 2 * s.r, dropout: 0, targetModules: targets, useRslora: false },
        (_l, _n, inF, outF) => ({
          a: new Float32Array(s.r * inF).fill(0.01),
          b: new Float32Array(outF * s.r).fill(0.01),
        }),
      );
      const optimizer = new AdamW(adapter.variables);
      const { batch: B, seq: T } = s;
      const inputIds = new Int32Array(B * T).map((_, i) => 3 + ((i * 7919) % (config.vocabSize - 3)));
      const mb = { batchSize: B, seqLen: T, inputIds, labels: Int32Array.from(inputIds), attentionMask: new Int32Array(B * T).fill(1) };
      const step = async () => {
        const { grads } = await microBatchGradients(model, adapter, mb, B * T);
        const { grads: clipped } = await clipGlobalNorm(grads, 1);
        optimizer.apply(clipped, 1e-4);
        tf.dispose(clipped === grads ? grads : [...grads, ...clipped]);
        await adapter.variables[0].data(); // the step's work is submitted and done
      };
      await step(); // compiles the shaders, unrecorded
      recorder.records = [];
      recorder.recording = true;
      const start = performance.now();
      await step();
      const seconds = (performance.now() - start) / 1000;
      recorder.recording = false;
      adapter.dispose();
      optimizer.dispose();
      return { profile: profileStep(recorder.records, machine), seconds };
    } finally {
      tf.engine().endScope();
    }
  };
  try {
    const one = await slice(1);
    const two = await slice(2);
    const L = shape.num_hidden_layers;
    const step = scaleToLayers(one.profile, two.profile, L, machine);
    return {
      settings: { ...s, targets, layers: L, matmul: process.env.LORA_STUDIO_MATMUL ?? 'auto' },
      machine,
      step,
      slices: { one: one.profile, two: two.profile },
      predictedTokensPerSecond: (s.batch * s.seq) / step.seconds,
      measuredStepSeconds: s.execute ? one.seconds + (L - 1) * (two.seconds - one.seconds) : undefined,
    };
  } finally {
    recorder.uninstall();
  }
}
