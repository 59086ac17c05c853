import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { EpochBatches } from '../../main/engine/data/batches.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { readPeftAdapter } from '../../main/engine/formats/peft-adapter.ts';
import { loadLlamaConfig } from '../../main/engine/llama/config.ts';
import { loadModel, type LoadedModel } from '../../main/engine/model/load.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { kaimingUniformInit } from '../../main/engine/model/lora-init.ts';
import { loraFromPeft } from '../../main/engine/model/lora-load.ts';
import { PROJECTIONS } from '../../main/engine/llama/projections.ts';
import { parseFinetuneConfig, type FinetuneConfig } from '../../main/engine/train/config.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import { prepareRunBundle } from '../../main/engine/train/prepared-run.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { labelledCount, microBatchGradients } from '../../main/engine/train/step.ts';
import { prepareTrainingData } from '../../main/engine/train/prepare-data.ts';
import {
  lossCurve,
  maxRelative,
  metricLines,
  readTensors,
  relativeFrobenius,
  runTrainer,
  trainerArgs,
} from '../helpers/cluster-trainer.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { TINY_ALPHABET, TINY_SHAPE, tinyAlpacaRows } from '../helpers/synthetic.ts';
import { missingTorch } from '../helpers/torch.ts';
import { workFolder } from '../helpers/work-folder.ts';

// The cluster trainer (PyTorch) against our TypeScript trainer: the same base, the same prepared batches, f32,
// dropout 0, every projection adapted. Both start from the same adapter (the same seeded stream draws A), so the loss
// of every step, the validation losses, the LoRA gradients and the final adapters must agree to rounding.
const tmp = (name: string) => workFolder(`cluster-eq-${name}`);

function settings(baseModel: string, dataPath: string, outputDir: string): FinetuneConfig {
  return parseFinetuneConfig({
    base_model: baseModel,
    data_path: dataPath,
    output_dir: outputDir,
    prompt_template_name: 'alpaca_short',
    batch_size: 4,
    micro_batch_size: 2, // two micro-batches accumulated per step, each left-padded
    cutoff_len: 128,
    val_set_size: 8,
    lora_r: 4,
    lora_dropout: 0,
    lora_target_modules: [...PROJECTIONS],
    learning_rate: 3e-3,
    warmup_steps: 0, // the first step moves B, so step 2 has gradients for A too
    max_steps: 6,
    logging_steps: 1,
    eval_steps: 3,
    save_steps: 1,
    save_total_limit: 0,
    backend: 'wasm',
    threads: 1,
  });
}

interface Figures {
  loss: number;
  evalLoss: number;
  adapter: number;
  gradStep1: number;
  gradStep2: number;
  /** Each trainer resumed from the other's step-3 checkpoint, against the other's uninterrupted adapter. */
  crossResume?: { pythonFromTs: number; tsFromPython: number };
}

/** Train both ways and measure; returns the worst relative differences. */
async function compareTrainers(baseModel: string, dataPath: string, crossResume = false): Promise<Figures> {
  const work = tmp('run');
  const config = settings(baseModel, dataPath, path.join(work, 'ts'));
  const bundle = path.join(work, 'bundle');
  await prepareRunBundle(config, bundle);

  const events: TrainingEvent[] = [];
  await runFinetune(config, (e) => events.push(e));
  const ts = {
    loss: new Map(events.flatMap((e) => (e.type === 'step' ? [[e.step, e.loss] as [number, number]] : []))),
    evalLoss: new Map(events.flatMap((e) => (e.type === 'eval' ? [[e.step, e.evalLoss] as [number, number]] : []))),
  };

  const pyRun = path.join(work, 'py');
  const grads = path.join(work, 'grads');
  const r = await runTrainer(trainerArgs(bundle, pyRun, baseModel, ['--dump_grads', grads, '--dump_grads_steps', '2']));
  expect(r.code, r.stderr).toBe(0);
  const py = lossCurve(pyRun);
  expect([...py.loss.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
  expect([...py.evalLoss.keys()]).toEqual([3, 6]);

  const [tsAdapter, pyAdapter] = await Promise.all([
    readTensors(path.join(config.output_dir, 'adapter/adapter_model.safetensors')),
    readTensors(path.join(pyRun, 'adapter/adapter_model.safetensors')),
  ]);
  expect([...pyAdapter.keys()].sort()).toEqual([...tsAdapter.keys()].sort());
  // Our PEFT reader takes the cluster's adapter (names, shapes, ranks), and its config is the local trainer's.
  const modelConfig = await loadLlamaConfig(baseModel);
  const [pyPeft, tsPeft] = await Promise.all([
    readPeftAdapter(path.join(pyRun, 'adapter'), modelConfig),
    readPeftAdapter(path.join(config.output_dir, 'adapter'), modelConfig),
  ]);
  expect(pyPeft.config).toEqual(tsPeft.config);
  expect(pyPeft.warnings).toEqual([]);

  // The gradients: ours from the same micro-batches (the local trainer's own data path), summed as its step sums them.
  const loaded = await loadModel(baseModel);
  const data = await prepareTrainingData(config);
  const batches = new EpochBatches(data.trainExamples, config.micro_batch_size, config.seed, config.group_by_length);
  const lora = { r: config.lora_r, alpha: config.lora_alpha, dropout: 0, targetModules: [...PROJECTIONS], useRslora: false };
  const prng = new Prng(config.seed);
  const initial = new LoraAdapter(
    loaded.config,
    lora,
    kaimingUniformInit(() => prng.next(), config.lora_r),
  );
  const afterStep1 = loraFromPeft(loaded.config, await readPeftAdapter(path.join(config.output_dir, 'checkpoints/step-1'), loaded.config));
  const step1 = await stepGradients(loaded, initial, [batches.microBatch(0, 0), batches.microBatch(0, 1)]);
  const step2 = await stepGradients(loaded, afterStep1, [batches.microBatch(0, 2), batches.microBatch(0, 3)]);
  const py1 = await readTensors(path.join(grads, 'grads-step-1.safetensors'));
  const py2 = await readTensors(path.join(grads, 'grads-step-2.safetensors'));
  // B = 0 at the start, so every A has gradient 0 at step 1, exactly, on both sides.
  for (const [name, g] of step1)
    if (name.includes('lora_A')) expect([g.every((x) => x === 0), py1.get(name)!.every((x) => x === 0)]).toEqual([true, true]);
  initial.dispose();
  afterStep1.dispose();

  let cross: Figures['crossResume'];
  if (crossResume) {
    // A checkpoint either trainer wrote, the other continues: same files, same layout, same position.
    const pyFromTs = path.join(work, 'py-from-ts');
    const resumed = await runTrainer(
      trainerArgs(bundle, pyFromTs, baseModel, ['--resume', path.join(config.output_dir, 'checkpoints/step-3')]),
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    expect([...lossCurve(pyFromTs).loss.keys()]).toEqual([4, 5, 6]);
    const tsFromPy = path.join(work, 'ts-from-py');
    await runFinetune({ ...config, output_dir: tsFromPy, resume_from_checkpoint: path.join(pyRun, 'checkpoints/step-3') }, () => undefined);
    cross = {
      pythonFromTs: relativeFrobenius(await readTensors(path.join(pyFromTs, 'adapter/adapter_model.safetensors')), tsAdapter),
      tsFromPython: relativeFrobenius(await readTensors(path.join(tsFromPy, 'adapter/adapter_model.safetensors')), pyAdapter),
    };
  }

  return {
    crossResume: cross,
    loss: maxRelative(py.loss, ts.loss),
    evalLoss: maxRelative(py.evalLoss, ts.evalLoss),
    adapter: relativeFrobenius(pyAdapter, tsAdapter),
    gradStep1: relativeFrobenius(py1, step1, (n) => n.includes('lora_B')),
    gradStep2: Math.max(
      relativeFrobenius(py2, step2, (n) => n.includes('lora_A')),
      relativeFrobenius(py2, step2, (n) => n.includes('lora_B')),
    ),
  };
}

/** One optimizer step's accumulated LoRA gradients (before clipping), by PEFT tensor name, in PEFT's layout. */
async function stepGradients(loaded: LoadedModel, adapter: LoraAdapter, mbs: ReturnType<EpochBatches['microBatch']>[]) {
  const normalizer = mbs.reduce((n, mb) => n + labelledCount(mb), 0);
  const sums = new Map<string, Float32Array>();
  for (const mb of mbs) {
    const { grads } = await microBatchGradients(loaded.model, adapter, mb, normalizer);
    adapter.modules.forEach((m, i) => {
      for (const [which, g] of [
        ['A', grads[2 * i]],
        ['B', grads[2 * i + 1]],
      ] as const) {
        const peft = tf.tidy(() => tf.transpose(g).dataSync() as Float32Array); // Aᵀ [in, r] → A [r, in]
        const name = `${m.key}.lora_${which}.weight`;
        const sum = sums.get(name);
        if (sum) peft.forEach((x, j) => (sum[j] += x));
        else sums.set(name, Float32Array.from(peft));
      }
    });
    tf.dispose(grads);
  }
  return sums;
}

function expectEqual(figures: Figures, what: string) {
  console.log(
    `${what}: loss ${figures.loss.toExponential(2)}, validation loss ${figures.evalLoss.toExponential(2)}, adapter ${figures.adapter.toExponential(2)} (Frobenius), ` +
      `LoRA gradients step 1 ${figures.gradStep1.toExponential(2)}, step 2 ${figures.gradStep2.toExponential(2)} (relative, PyTorch against TypeScript)`,
  );
  expect(figures.loss).toBeLessThan(1e-4);
  expect(figures.evalLoss).toBeLessThan(1e-4);
  expect(figures.adapter).toBeLessThan(1e-3);
  expect(figures.gradStep1).toBeLessThan(1e-4);
  expect(figures.gradStep2).toBeLessThan(1e-4);
  if (figures.crossResume) {
    console.log(
      `${what}: resumed from the other trainer's step-3 checkpoint, against its uninterrupted adapter: PyTorch from TypeScript ${figures.crossResume.pythonFromTs.toExponential(2)}, TypeScript from PyTorch ${figures.crossResume.tsFromPython.toExponential(2)}`,
    );
    expect(figures.crossResume.pythonFromTs).toBeLessThan(1e-3);
    expect(figures.crossResume.tsFromPython).toBeLessThan(1e-3);
  }
}

describe.skipIf(missingTorch())('the cluster trainer (PyTorch) trains as the local trainer does', () => {
  let dataPath: string;
  beforeAll(async () => {
    await initBackend('wasm', { threads: 1 });
    dataPath = path.join(tmp('data'), 'alpaca.json');
    writeFileSync(dataPath, JSON.stringify(tinyAlpacaRows(40)));
  });

  it("on a synthetic GQA model with q/k/v biases: every step loss, the gradients, the adapter; each resumes the other's checkpoint", async () => {
    const model = path.join(tmp('model'), 'gqa-bias');
    await writeSyntheticModel(model, { ...TINY_SHAPE, attention_bias: true, rope_theta: 500_000 }, { alphabet: TINY_ALPHABET });
    expectEqual(await compareTrainers(model, dataPath, true), 'synthetic GQA 8:4 + q/k/v bias');
  });

  it.skipIf(missingShared('models/stories260K/model.safetensors'))('on stories260K (trained weights, its own tokenizer)', async () => {
    expectEqual(await compareTrainers(sharedPath('models/stories260K'), dataPath), 'stories260K');
  });

  it('rows cut before their response: the same micro-batches and steps skipped, the same curve and adapter', async () => {
    // Half the rows' prompts fill cutoff_len, and the prompts are masked: those rows keep no token to train on. A
    // micro-batch of two of them is skipped by both trainers (and a step of nothing but them makes no update).
    const rows = tinyAlpacaRows(48).map((r, i) => (i % 2 ? r : { ...r, instruction: `${'Say nothing yet. '.repeat(12)}${r.instruction}` }));
    const data = path.join(tmp('data'), 'half-lost.json');
    writeFileSync(data, JSON.stringify(rows));
    const model = path.join(tmp('model'), 'tiny');
    await writeSyntheticModel(model, TINY_SHAPE, { alphabet: TINY_ALPHABET });
    const work = tmp('run');
    const config = parseFinetuneConfig({
      ...settings(model, data, path.join(work, 'ts')),
      train_on_inputs: false,
      batch_size: 2,
      micro_batch_size: 1,
      max_steps: 12,
      eval_steps: 0, // only at the end
      save_steps: 0,
    });
    await prepareRunBundle(config, path.join(work, 'bundle'));
    const events: TrainingEvent[] = [];
    await runFinetune(config, (e) => events.push(e));
    const py = path.join(work, 'py');
    const r = await runTrainer(trainerArgs(path.join(work, 'bundle'), py, model));
    expect(r.code, r.stderr).toBe(0);
    // The same lines: steps with their skip counts, skipped-only report points, one evaluation at the end.
    const shape = (e: Record<string, unknown>) =>
      ['step', 'skipped', 'eval'].includes(e.type as string) ? [[e.type, e.step, e.skippedMicroBatches ?? 0, e.skippedSteps ?? 0]] : [];
    const tsLines = events.flatMap((e) => shape(e as unknown as Record<string, unknown>));
    expect(metricLines(py).flatMap((e) => shape(e))).toEqual(tsLines);
    const skippedSteps = tsLines.reduce((n, l) => n + (l[3] as number), 0);
    const skippedMicroBatches = tsLines.reduce((n, l) => n + (l[2] as number), 0);
    expect(skippedMicroBatches).toBeGreaterThan(skippedSteps); // some steps trained on one of their two micro-batches
    expect(skippedSteps).toBeGreaterThan(0); // and some on neither
    const tsLoss = new Map(events.flatMap((e) => (e.type === 'step' ? [[e.step, e.loss] as [number, number]] : [])));
    const loss = maxRelative(lossCurve(py).loss, tsLoss);
    const adapter = relativeFrobenius(
      await readTensors(path.join(py, 'adapter/adapter_model.safetensors')),
      await readTensors(path.join(config.output_dir, 'adapter/adapter_model.safetensors')),
    );
    console.log(
      `rows that keep no token (${skippedMicroBatches} micro-batches and ${skippedSteps} whole steps skipped by both): loss ${loss.toExponential(2)}, adapter ${adapter.toExponential(2)}`,
    );
    expect(loss).toBeLessThan(1e-4);
    expect(adapter).toBeLessThan(1e-3);
  });
});
