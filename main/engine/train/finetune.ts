import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, initBackend } from '../backend/index.ts';
import { currentAdapter } from '../backend/webgpu.ts';
import { selectMatmulPath } from '../backend/webgpu-matmul-path.ts';
import { deviceRefusal, estimateTrainingMemory, webgpuDeviceLimits } from '../system/memory-estimate.ts';
import { EpochBatches, PAD_MULTIPLE, sequentialBatches } from '../data/batches.ts';
import { Prng } from '../data/prng.ts';
import { loadTemplate } from '../data/templates.ts';
import { StudioError } from '../errors.ts';
import { rethrowFsError, withFsErrors } from '../fs/fs-errors.ts';
import { removeStaleTempFiles, writeFileAtomic } from '../fs/atomic-write.ts';
import { readPeftAdapter, type LoadedAdapter } from '../formats/peft-adapter.ts';
import { loadLlamaConfig } from '../llama/config.ts';
import { loadModel } from '../model/load.ts';
import { LoraAdapter, checkTargets } from '../model/lora.ts';
import { checkLoraRank } from '../llama/projections.ts';
import { kaimingUniformInit } from '../model/lora-init.ts';
import { loraFromPeft } from '../model/lora-load.ts';
import { parameterCount } from '../model/weights.ts';
import { useGradientCheckpointing } from '../llama/gradient-checkpointing.ts';
import type { BaseDtype } from '../llama/base-dtype-names.ts';
import { AdamW, ADAMW_DEFAULTS } from './adamw.ts';
import { latestGoodCheckpoint, pruneCheckpoints, removeStaleTemps, requireGoodCheckpoint, writeCheckpoint } from './checkpoint.ts';
import type { FinetuneConfig } from './config.ts';
import { trainableParamsLine, type TrainingEvent, type TrainingListener } from './reports.ts';
import { appendMetric, checkpointName, runPaths } from './run-folder.ts';
import { checkResumeSettings, isResuming, prepareRunFolder, refuseCutoffBeyondContext } from './run-start-checks.ts';
import { fillCheckpoint, restoreCheckpoint, saveAdapter, verifySavedAdapter, type TrainerStateFile } from './run-state.ts';
import { linearWarmupDecay } from './schedule.ts';
import { NonFiniteLossError, START, totalSteps, train, type TrainerPosition } from './trainer.ts';
import { prepareTrainingData, trainingPlan } from './training-data.ts';

export interface FinetuneResult {
  runDir: string;
  adapterDir: string;
  steps: number;
  reason: string;
  bestCheckpoint?: string;
  finalEvalLoss?: number;
}

/**
 * A whole fine-tuning run, Alpaca-LoRA's finetune.py in one function: load model and data, make or resume the
 * LoRA adapter, train, checkpoint, and save the final adapter (checked after saving). Every report goes to
 * `listener`; the run folder gets config.json first and metrics.jsonl as it goes.
 */
export async function runFinetune(
  config: FinetuneConfig,
  listener: TrainingListener,
  opts: { signal?: AbortSignal; inStepReportMs?: number } = {},
): Promise<FinetuneResult> {
  refuseCutoffBeyondContext(config, loadLlamaConfig(config.base_model));
  const paths = runPaths(config.output_dir);
  const { dir: runDir, checkpoints: checkpointsDir } = paths;
  const removed = await withFsErrors(runDir, 'write', () => prepareRunFolder(config, paths));
  const emit: TrainingListener = (e: TrainingEvent) => {
    try {
      appendMetric(paths.metrics, e);
    } catch (err) {
      rethrowFsError(err, paths.metrics);
    }
    listener(e);
  };
  const log = (message: string, level: 'info' | 'warn' = 'info') => emit({ type: 'log', level, message });
  for (const note of removed) log(note, 'warn');

  for (const t of await removeStaleTemps(checkpointsDir)) log(`removed an unfinished checkpoint left by a crash: ${t}`, 'warn');
  for (const t of await removeStaleTempFiles(paths.adapter)) log(`removed an unfinished adapter file left by a crash: ${t}`, 'warn');
  const resumeDir = await findResumeCheckpoint(config, checkpointsDir, log);
  if (resumeDir) checkResumeSettings(config, resumeDir, log);

  const backend = await initBackend(config.backend, { threads: config.threads });
  log(describeBackend(backend));
  const matmul = await selectMatmulPath(); // WebGPU: the tiled kernel, or subgroup matrices after their self-test
  if (matmul.kernel !== 'tfjs') log(`frozen-weight matmuls: ${matmul.kernel} kernel (${matmul.reason})`);

  const targets = checkTargets(config.lora_target_modules);
  const template = loadTemplate(config.prompt_template_name);
  // Before any weight is loaded: an absurd rank would otherwise fail deep in an allocation.
  checkLoraRank(loadLlamaConfig(config.base_model), config.lora_r, targets);
  if (config.frozen_dtype !== undefined) log('note: frozen_dtype is deprecated; it is read as base_dtype (use --base_dtype)', 'warn');
  // The estimate at cutoff_len (the longest a batch can be) decides auto's mode, or refuses, before any weight is read.
  const workload = {
    microBatchSize: config.micro_batch_size,
    cutoffLen: config.cutoff_len,
    loraR: config.lora_r,
    targetModules: targets,
    gradientCheckpointing: config.gradient_checkpointing,
  };
  const {
    model,
    tokenizer,
    config: modelConfig,
    baseDtype,
    placement,
    baseDtypeWhy,
    warnings,
  } = await loadModel(config.base_model, { baseDtype: config.base_dtype, workload });
  log(
    `frozen base held as ${baseDtype}${placement === 'host' ? ' in JS memory, each matrix dequantized just in time' : ''}: ${baseDtypeWhy}`,
  );
  for (const w of warnings) log(w, 'warn');
  const checkpointing = useGradientCheckpointing(config.gradient_checkpointing, baseDtype, placement);
  if (checkpointing)
    log(
      `gradient checkpointing on${config.gradient_checkpointing === undefined ? ` (auto: ${placement === 'host' ? 'a base held in JS memory' : `a ${baseDtype} base`})` : ''}: each layer is recomputed in the backward pass`,
    );
  const { train: trainExamples, validation: valExamples, dataSha256 } = prepareTrainingData(config, tokenizer, template, log);

  if (backend.name === 'webgpu')
    await refuseIfDeviceTooSmall(config, modelConfig, targets, [...trainExamples, ...valExamples], baseDtype, log);

  const plan = trainingPlan(config, trainExamples.length);
  const batches = new EpochBatches(trainExamples, config.micro_batch_size, config.seed, config.group_by_length);
  const trainerData = {
    microBatchesPerEpoch: batches.microBatchesPerEpoch,
    microBatch: (epoch: number, index: number) => batches.microBatch(epoch, index),
    validation: sequentialBatches(valExamples, config.micro_batch_size),
  };
  const schedule = {
    learningRate: config.learning_rate,
    warmupSteps: config.warmup_steps,
    gradientAccumulation: plan.gradientAccumulation,
    numEpochs: plan.epochs,
    maxSteps: plan.maxSteps,
    maxGradNorm: config.max_grad_norm,
    loggingSteps: config.logging_steps,
    evalSteps: config.eval_steps,
    saveSteps: config.save_steps,
    earlyStoppingPatience: config.early_stopping_patience,
    seed: config.seed,
    gradientCheckpointing: checkpointing,
  };

  const settings = {
    r: config.lora_r,
    alpha: config.lora_alpha,
    dropout: config.lora_dropout,
    targetModules: targets,
    useRslora: config.use_rslora,
  };
  const adapter = new LoraAdapter(modelConfig, settings, kaimingUniformInit(randomFrom(new Prng(config.seed)), config.lora_r));
  const optimizer = new AdamW(adapter.variables, { ...ADAMW_DEFAULTS, weightDecay: config.weight_decay });

  let from: TrainerPosition = START;
  if (resumeDir) {
    const state = await restoreCheckpoint(resumeDir, modelConfig, adapter, optimizer);
    if (state.dataSha256 !== dataSha256) log(`the data file changed since ${resumeDir} was written; the data order will differ`, 'warn');
    from = state.position;
    log(`resuming from ${resumeDir} at step ${from.step}`);
  }

  const allParams = parameterCount(modelConfig) + adapter.parameterCount;
  // base_dtype_used: the mode the adapter was trained against (the export report reads it).
  const resolved = {
    ...config,
    base_dtype_used: baseDtype,
    gradient_checkpointing_used: checkpointing,
    backend_used: backend.name,
    backend_detail: backend.detail,
    threads_used: backend.threads,
    matmul_kernel: matmul.kernel,
    matmul_reason: matmul.reason,
  };
  await writeFileAtomic(paths.config, JSON.stringify(resolved, null, 2) + '\n');
  log(trainableParamsLine(adapter.parameterCount, allParams));
  const total = totalSteps(trainerData, schedule);
  if (from.step === 0) {
    const zeroRate = onlyStepsAtZeroRate(total, config.warmup_steps);
    if (zeroRate) log(`this run cannot change the adapter${zeroRate}`, 'warn');
  }
  emit({
    type: 'start',
    totalSteps: total,
    startStep: from.step,
    trainableParams: adapter.parameterCount,
    allParams,
    backend: describeBackend(backend),
  });

  let lastCheckpoint: string | undefined;
  const saveCheckpoint = async (pos: TrainerPosition, opt: AdamW) => {
    const state: TrainerStateFile = {
      position: pos,
      optimizerStep: opt.step,
      seed: config.seed,
      epochOrder: batches.orderOf(pos.epoch),
      dataSha256,
    };
    const dir = await writeCheckpoint(checkpointsDir, pos.step, (d) => fillCheckpoint(d, adapter, opt, state, config.base_model, resolved));
    lastCheckpoint = dir;
    const best = pos.bestStep === null ? undefined : path.join(checkpointsDir, checkpointName(pos.bestStep));
    await pruneCheckpoints(checkpointsDir, config.save_total_limit, [best]);
    return dir;
  };

  let outcome;
  try {
    outcome = await train(
      model,
      adapter,
      optimizer,
      trainerData,
      schedule,
      { listener: emit, saveCheckpoint, shouldStop: () => opts.signal?.aborted ?? false, inStepReportMs: opts.inStepReportMs },
      from,
    );
  } catch (e) {
    if (e instanceof NonFiniteLossError) {
      log(e.message, 'warn');
      throw new StudioError(`${e.message}${lastCheckpoint ? ` Last good checkpoint: ${lastCheckpoint}` : ''}`, runDir, 'train/non-finite');
    }
    throw e;
  }
  const pos = outcome.position;
  if (outcome.reason !== 'stopped' && (!lastCheckpoint || path.basename(lastCheckpoint) !== checkpointName(pos.step)))
    await saveCheckpoint(pos, optimizer);

  // The final adapter: the best by validation loss when there was validation (load_best_model_at_end), else the last.
  const bestDir = pos.bestStep !== null ? path.join(checkpointsDir, checkpointName(pos.bestStep)) : undefined;
  const finalAdapter = bestDir && existsSync(bestDir) ? loraFromPeft(modelConfig, await readPeftAdapter(bestDir, modelConfig)) : adapter;
  const adapterDir = paths.adapter;
  await mkdir(adapterDir, { recursive: true });
  await saveAdapter(adapterDir, finalAdapter, config.base_model);
  const saved = await verifySavedAdapter(
    adapterDir,
    modelConfig,
    finalAdapter,
    pos.step > 0,
    onlyStepsAtZeroRate(pos.step, config.warmup_steps),
  );
  await checkLogitsRoundTrip(adapterDir, model, finalAdapter, saved, trainerData.validation[0] ?? trainerData.microBatch(0, 0));
  log(`adapter saved to ${adapterDir} and checked (tensors, shapes, logits round trip)`);

  emit({ type: 'done', step: pos.step, reason: outcome.reason, bestCheckpoint: bestDir, adapterDir });
  const result = {
    runDir,
    adapterDir,
    steps: pos.step,
    reason: outcome.reason,
    bestCheckpoint: bestDir,
    finalEvalLoss: pos.bestEvalLoss ?? undefined,
  };
  if (finalAdapter !== adapter) finalAdapter.dispose();
  adapter.dispose();
  optimizer.dispose();
  return result;
}

/**
 * On WebGPU, refuse before the first step when the estimate exceeds the device memory (when known) or one tensor would
 * exceed the adapter's binding limit: the device would fail mid-step with a bare allocation error instead.
 */
async function refuseIfDeviceTooSmall(
  config: FinetuneConfig,
  modelConfig: import('../llama/config.ts').LlamaConfig,
  targets: ReturnType<typeof checkTargets>,
  examples: { inputIds: ArrayLike<number> }[],
  baseDtype: BaseDtype,
  log: (m: string, l?: 'info' | 'warn') => void,
) {
  const adapter = currentAdapter();
  if (!adapter) return;
  const device = await webgpuDeviceLimits(adapter);
  // The longest batch collate can make: the longest example, padded to PAD_MULTIPLE, at most cutoff_len.
  const longest = examples.reduce((m, e) => Math.max(m, e.inputIds.length), 1);
  const seqLen = Math.min(config.cutoff_len, Math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE);
  const est = estimateTrainingMemory(modelConfig, {
    microBatchSize: config.micro_batch_size,
    cutoffLen: seqLen,
    loraR: config.lora_r,
    targetModules: targets,
    gradientCheckpointing: config.gradient_checkpointing,
    baseDtype,
    backendName: 'webgpu',
  });
  const refusal = deviceRefusal(est, device, { microBatchSize: config.micro_batch_size, cutoffLen: config.cutoff_len });
  if (refusal) throw new StudioError(refusal, config.base_model, 'train/device-memory');
  const mem =
    device.totalBytes === null
      ? `device memory ${device.memorySource}`
      : `${(device.totalBytes / 2 ** 30).toFixed(1)} GiB device memory (${device.memorySource})`;
  log(
    `WebGPU device ${device.name}: ${mem}; estimated ${(est.totalBytes / 2 ** 30).toFixed(2)} GiB for training, largest tensor ${(est.largestTensor.bytes / 2 ** 20).toFixed(1)} MiB of ${(device.maxBindingBytes / 2 ** 20).toFixed(0)} MiB allowed`,
  );
}

async function findResumeCheckpoint(config: FinetuneConfig, root: string, log: (m: string, l?: 'info' | 'warn') => void) {
  const r = config.resume_from_checkpoint;
  if (!isResuming(config) || r === null || r === false) return undefined;
  if (r === true || r === 'true') {
    const dir = await latestGoodCheckpoint(root, (m) => log(m, 'warn'));
    if (!dir) log(`no checkpoint to resume from in ${root}; starting from scratch`, 'warn');
    return dir;
  }
  await requireGoodCheckpoint(r);
  return r;
}

/** The saved adapter, reloaded, must give exactly the logits of the adapter in memory. */
async function checkLogitsRoundTrip(
  dir: string,
  model: import('../model/llama.ts').LlamaModel,
  adapter: LoraAdapter,
  saved: LoadedAdapter,
  mb: import('../data/batches.ts').MicroBatch,
) {
  const reloaded = loraFromPeft(model.config, saved);
  const maxDiff = tf.tidy(() => {
    const ids = tf.tensor2d(mb.inputIds, [mb.batchSize, mb.seqLen], 'int32');
    const mask = tf.tensor2d(mb.attentionMask, [mb.batchSize, mb.seqLen], 'int32');
    const a = model.forward(ids, { attentionMask: mask, projection: adapter.projection() });
    const b = model.forward(ids, { attentionMask: mask, projection: reloaded.projection() });
    return tf.max(tf.abs(tf.sub(a, b)));
  });
  const diff = (await maxDiff.data())[0]; // not dataSync: tfjs-webgpu cannot read synchronously in Node
  maxDiff.dispose();
  reloaded.dispose();
  if (diff !== 0)
    throw new StudioError(`the saved adapter gives other logits than the trained one (max difference ${diff})`, dir, 'adapter/verify');
}

/**
 * Why a run of `steps` optimizer steps leaves every lora_B at zero, when the schedule is the cause: with warmup the
 * first step runs at learning rate 0 (linearWarmupDecay, as the HF Trainer's), so one step trains nothing.
 */
function onlyStepsAtZeroRate(steps: number, warmupSteps: number): string {
  // Only the first step can run at rate 0 (step ≥ 1 has step / warmup > 0), so two steps settle it.
  const someStepTrains = [0, 1].some((i) => i < steps && linearWarmupDecay(i, warmupSteps, steps) > 0);
  if (steps === 0 || someStepTrains) return '';
  return `: with warmup_steps ${warmupSteps} the first step runs at learning rate 0 (as Hugging Face's schedule does), and this run has only ${steps} step. Train at least 2 steps (--max_steps 2), or set --warmup_steps 0`;
}

function randomFrom(prng: Prng): () => number {
  return () => prng.next();
}
