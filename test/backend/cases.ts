// The computations the webgpu-vs-wasm tests compare, each returning plain numbers so one side can run in a child
// process (see wasm-reference.ts) and the other in the test's own. They run on whatever backend initBackend started,
// on a model of stories260K's shape and rows the tests write themselves: backends agreeing needs no trained weights.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Prng } from '../../main/engine/data/prng.ts';
import type { LlamaModel } from '../../main/engine/model/llama.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { PROJECTIONS } from '../../main/engine/llama/projections.ts';
import { parseFinetuneConfig } from '../../main/engine/train/config.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import { labelledCount, microBatchGradients } from '../../main/engine/train/step.ts';
import type { BackendChoice } from '../../main/engine/backend/index.ts';
import { paddedTestBatch } from '../helpers/batches.ts';
import { tinyAlpacaFile, tinyModel } from '../helpers/synthetic.ts';

export const FINETUNE_STEPS = 10;
const R = 4;

export interface CaseResults {
  logits: number[];
  loss: number;
  /** Per LoRA variable, in adapter order: the gradient as a flat array. */
  grads: number[][];
  stepLosses: number[];
}

/** The model the cases run on (random weights, stories260K's shape, 512 ids), written once per process. */
export function caseModel(): Promise<string> {
  return tinyModel();
}

/** The rows finetuneCase trains on, written to a fresh temp file. */
export function caseData(): string {
  return tinyAlpacaFile(64, 'en');
}

/** Logits [1, 12, V] of a fixed prompt, flattened. */
export async function logitsCase(dir: string, opts: Parameters<typeof loadModel>[1] = {}): Promise<number[]> {
  return modelLogits((await loadModel(dir, opts)).model);
}

/** logitsCase on a model already built (e.g. with weights repacked by a test). */
export async function modelLogits(model: LlamaModel): Promise<number[]> {
  const ids = [1, 403, 407, 261, 378, 267, 379, 185, 31, 42, 7, 300];
  const logits = model.forward(tf.tensor2d([ids], [1, ids.length], 'int32'));
  const out = Array.from(await logits.data());
  logits.dispose();
  return out;
}

/** Loss and LoRA gradients (all seven targets, non-zero B so every A gets a gradient too). */
export async function gradientsCase(dir: string, opts: Parameters<typeof loadModel>[1] = {}): Promise<{ loss: number; grads: number[][] }> {
  return modelGradients((await loadModel(dir, opts)).model);
}

/** gradientsCase on a model already built. */
export async function modelGradients(model: LlamaModel): Promise<{ loss: number; grads: number[][] }> {
  const config = model.config;
  const prng = new Prng(3);
  const adapter = new LoraAdapter(
    config,
    { r: R, alpha: 8, dropout: 0, targetModules: [...PROJECTIONS], useRslora: false },
    (_l, _n, inF, outF) => ({
      a: Float32Array.from({ length: R * inF }, () => (prng.next() - 0.5) * 0.2),
      b: Float32Array.from({ length: outF * R }, () => (prng.next() - 0.5) * 0.02),
    }),
  );
  const mb = paddedTestBatch(prng);
  const { loss, grads } = await microBatchGradients(model, adapter, mb, labelledCount(mb));
  const flat = await Promise.all(grads.map(async (g) => Array.from(await g.data())));
  tf.dispose(grads);
  adapter.dispose();
  return { loss, grads: flat };
}

/** The training loss of each of FINETUNE_STEPS optimizer steps of a real run (runFinetune, no dropout). */
export async function finetuneCase(backend: BackendChoice, modelDir: string, dataPath: string): Promise<number[]> {
  const losses: number[] = [];
  const config = parseFinetuneConfig({
    base_model: modelDir,
    data_path: dataPath,
    output_dir: mkdtempSync(path.join(tmpdir(), `ft-${backend}-`)),
    // The short template: with one token per character, 32 tokens reach past the header into each row's own words.
    prompt_template_name: 'alpaca_short',
    batch_size: 4,
    micro_batch_size: 2,
    // Short rows: few distinct sequence lengths, so few shapes for WebGPU to compile shaders for.
    cutoff_len: 32,
    val_set_size: 0,
    learning_rate: 3e-3,
    warmup_steps: 2,
    lora_dropout: 0,
    lora_target_modules: ['q_proj', 'v_proj', 'down_proj'],
    logging_steps: 1,
    eval_steps: 0,
    save_steps: 0,
    max_steps: FINETUNE_STEPS,
    backend,
  });
  await runFinetune(config, (e) => {
    if (e.type === 'step') losses.push(e.loss);
  });
  return losses;
}
