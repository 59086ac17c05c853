// `npm run bench -- gpu-profile [flags]`: every GPU dispatch of one LoRA training step (forward, backward, gradient
// clipping, AdamW) on a WebGPU adapter, with its FLOPs and bytes, and the step time predicted for a machine.
// A full-width model of N layers is profiled as 1- and 2-layer slices and scaled (per program: one + (N−1)·(two − one)),
// so a TinyLlama-sized step needs only its shapes; on a software adapter the programs run on one workgroup each.
//   --shape tinyllama-1.1b|llama-7b|…  --batch 4 --seq 256 --r 16 --targets q_proj,k_proj,v_proj,o_proj --base f16
//   --tflops 25 --tbps 3.0 --dispatch-us 6      the machine (defaults: an H200 running f32 WGSL, see README)
//   --backend webgpu|webgpu-software            default: webgpu where a GPU device exists
//   --execute true|false                        run every workgroup (default: only on a hardware adapter)
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../main/engine/backend/index.ts';
import { hasGpuDeviceNode } from '../../main/engine/backend/webgpu.ts';
import type { BackendChoice } from '../../main/engine/backend/choices.ts';
import { parseLlamaConfig } from '../../main/engine/model/config.ts';
import { LlamaModel } from '../../main/engine/model/llama.ts';
import { LoraAdapter, checkTargets } from '../../main/engine/model/lora.ts';
import { loadLlamaWeights } from '../../main/engine/model/weights.ts';
import { AdamW, clipGlobalNorm } from '../../main/engine/train/adamw.ts';
import { microBatchGradients } from '../../main/engine/train/step.ts';
import { KIT_SHAPES } from '../gpu-kit/shapes.ts';
import { syntheticConfigJson } from '../synthetic.ts';
import type { Machine } from './dispatch-cost.ts';
import { syntheticTensorSource } from './memory-source.ts';
import { describeStep, profileStep, scaleToLayers, type StepProfile } from './predict.ts';
import { DispatchRecorder } from './recorder.ts';

/**
 * The default machine: an H200 running our f32 WGSL. 6 µs a dispatch is what Dawn costs per dispatch (DESIGN.md,
 * measured in Chrome on an A100). 25 TFLOP/s: WGSL f32 GEMMs reached ~76% of an A100's 19.5 TFLOP/s fp32 peak, and
 * the H200's fp32 peak is ~67 (datasheet); we assume well under that share until measured (the GPU kit measures
 * it). 3.0 TB/s: ~70% of the 4.3 TB/s a device-to-device copy moved on the lent H200 (read + written).
 */
export const H200_F32_WGSL: Machine = { flopsPerSecond: 25e12, bytesPerSecond: 3.0e12, dispatchSeconds: 6e-6 };

const flags = parseFlags(process.argv.slice(3));
const shapeName = flags.shape ?? 'tinyllama-1.1b';
const shape = KIT_SHAPES[shapeName];
if (!shape) throw new Error(`--shape ${shapeName}: one of ${Object.keys(KIT_SHAPES).join(', ')}`);
const B = Number(flags.batch ?? 4);
const T = Number(flags.seq ?? 256);
const r = Number(flags.r ?? 16);
const targets = checkTargets((flags.targets ?? 'q_proj,k_proj,v_proj,o_proj').split(','));
const base = flags.base ?? 'f16';
const machine: Machine = {
  flopsPerSecond: flags.tflops ? Number(flags.tflops) * 1e12 : H200_F32_WGSL.flopsPerSecond,
  bytesPerSecond: flags.tbps ? Number(flags.tbps) * 1e12 : H200_F32_WGSL.bytesPerSecond,
  dispatchSeconds: flags['dispatch-us'] ? Number(flags['dispatch-us']) * 1e-6 : H200_F32_WGSL.dispatchSeconds,
};
const backend = await initBackend((flags.backend ?? (hasGpuDeviceNode() ? 'webgpu' : 'webgpu-software')) as BackendChoice);
const execute = flags.execute ? flags.execute === 'true' : !backend.detail.includes('software');
const recorder = new DispatchRecorder(execute);
recorder.install();

/** One recorded training step (after an unrecorded one, which compiles the shaders) on a model of `layers` layers. */
async function profileLayers(layers: number): Promise<StepProfile> {
  // Everything this slice makes (weights, activations) is freed at the scope's end; variables by their owners.
  tf.engine().startScope();
  try {
    const config = parseLlamaConfig({ ...syntheticConfigJson(shape), num_hidden_layers: layers });
    const weights = await loadLlamaWeights(syntheticTensorSource(config), config, `synthetic ${shapeName}`, base as never);
    const model = new LlamaModel(config, weights);
    const adapter = new LoraAdapter(config, { r, alpha: 2 * r, dropout: 0, targetModules: targets, useRslora: false }, (_l, _n, inF, outF) => ({
      a: new Float32Array(r * inF).fill(0.01),
      b: new Float32Array(outF * r).fill(0.01),
    }));
    const optimizer = new AdamW(adapter.variables);
    const inputIds = new Int32Array(B * T).map((_, i) => 3 + ((i * 7919) % (config.vocabSize - 3)));
    const mb = { batchSize: B, seqLen: T, inputIds, labels: Int32Array.from(inputIds), attentionMask: new Int32Array(B * T).fill(1) };
    const step = async () => {
      const { grads } = await microBatchGradients(model, adapter, mb, B * T);
      const { grads: clipped } = await clipGlobalNorm(grads, 1);
      optimizer.apply(clipped, 1e-4);
      tf.dispose(clipped === grads ? grads : [...grads, ...clipped]);
      await adapter.variables[0].data(); // the step's work is submitted and done
    };
    await step();
    recorder.records = [];
    recorder.recording = true;
    await step();
    recorder.recording = false;
    adapter.dispose();
    optimizer.dispose();
    return profileStep(recorder.records, machine);
  } finally {
    tf.engine().endScope();
  }
}

const started = performance.now();
const one = await profileLayers(1);
const two = await profileLayers(2);
const step = scaleToLayers(one, two, shape.num_hidden_layers, machine);
const tokens = B * T;
const title = `${shapeName} (${shape.num_hidden_layers} layers, from 1- and 2-layer slices), micro batch ${B} × ${T}, LoRA r ${r} on ${targets.join(',')}, base ${base}, matmul ${process.env.LORA_STUDIO_MATMUL ?? 'auto'}`;
const lines = [
  `dispatch profile on ${backend.detail}${execute ? '' : ' (programs dispatched on one workgroup: shapes only)'}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
  ...describeStep(title, step, tokens, machine),
];
console.log(lines.join('\n'));
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
const out = path.join(root, 'bench/results', `gpu-profile-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const settings = { shape: shapeName, layers: shape.num_hidden_layers, batch: B, seq: T, r, targets, base, matmul: process.env.LORA_STUDIO_MATMUL ?? 'auto', backend: backend.detail, executed: execute };
writeFileSync(out, JSON.stringify({ settings, machine, step, slices: { one, two }, predicted_tokens_per_second: tokens / step.seconds }, null, 2));
console.log(`\nwritten: ${path.relative(root, out)}`);

function parseFlags(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    if (!args[i].startsWith('--') || i + 1 >= args.length) throw new Error(`gpu-profile: expected --flag value, got ${args.slice(i).join(' ')}`);
    out[args[i].slice(2)] = args[++i];
  }
  return out;
}

