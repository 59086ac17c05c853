import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describeBackend } from '../backend/index.ts';
import { StudioError } from '../errors.ts';
import { rethrowFsError, withFsErrors } from '../fs/fs-errors.ts';
import { removeStaleTempFiles, writeFileAtomic } from '../fs/atomic-write.ts';
import { readPeftAdapter, type LoadedAdapter } from '../formats/peft-adapter.ts';
import { loadLlamaConfig } from '../llama/config.ts';
import type { LoraAdapter } from '../model/lora.ts';
import { loraFromPeft } from '../model/lora-load.ts';
import { parameterCount } from '../llama/tensors.ts';
import type { AdamW } from './adamw.ts';
import { latestGoodCheckpoint, pruneCheckpoints, removeStaleTemps, requireGoodCheckpoint, writeCheckpoint } from './checkpoint.ts';
import type { FinetuneConfig } from './config.ts';
import { prepareTrainingData } from './prepare-data.ts';
import { prepareTraining, startTrainingBackend } from './prepare-training.ts';
import { trainableParamsLine, type TrainingEvent, type TrainingListener } from './reports.ts';
import { appendMetric, checkpointName, checkpointNames, runFilesIn, runPaths, type RunPaths } from './run-folder.ts';
import { checkResumeSettings, claimRunFolder, isResuming, refuseAbsurdLoraScale, refuseCutoffBeyondContext } from './run-start-checks.ts';
import { fillCheckpoint, restoreCheckpoint, saveAdapter, verifySavedAdapter, type TrainerStateFile } from './run-state.ts';
import { linearWarmupDecay } from './schedule.ts';
import { NonFiniteLossError, START, totalSteps, train, type TrainerPosition } from './trainer.ts';
import type { FinetuneResult } from './finetune-result.ts';

/** progressMs: how often long work (tokenizing) logs how far it is (tests lower it). */
type FinetuneOptions = { signal?: AbortSignal; inStepReportMs?: number; progressMs?: number };

/**
 * A whole fine-tuning run, Alpaca-LoRA's finetune.py in one function: load model and data, make or resume the
 * LoRA adapter, train, checkpoint, and save the final adapter (checked after saving). Every report goes to
 * `listener`; the run folder gets config.json first and metrics.jsonl as it goes. The run holds its folder's lock
 * from before its first write to the end: a second writer of that folder is refused.
 */
export async function runFinetune(config: FinetuneConfig, listener: TrainingListener, opts: FinetuneOptions = {}): Promise<FinetuneResult> {
  refuseAbsurdLoraScale(config);
  refuseCutoffBeyondContext(config, await loadLlamaConfig(config.base_model));
  const paths = runPaths(config.output_dir);
  const { lock, notes } = await withFsErrors(paths.dir, 'write', () => claimRunFolder(config, paths));
  try {
    return await trainInFolder(config, paths, notes, listener, opts);
  } finally {
    lock.release();
  }
}

async function trainInFolder(
  config: FinetuneConfig,
  paths: RunPaths,
  removed: string[],
  listener: TrainingListener,
  opts: FinetuneOptions,
): Promise<FinetuneResult> {
  const { dir: runDir, checkpoints: checkpointsDir } = paths;
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
  const resumeDir = await findResumeCheckpoint(config, paths, log);
  if (resumeDir) await checkResumeSettings(config, resumeDir, log);

  const started = await startTrainingBackend(config, log);
  // The data before the model: a run that would train on nothing is refused before a weight is read.
  const data = await prepareTrainingData(config, { log, progressMs: opts.progressMs });
  const prepared = await prepareTraining(config, data, started, log);
  const { backend, matmul, model, modelConfig, baseDtype, checkpointing, batches, trainerData, schedule, adapter, optimizer } = prepared;
  const { dataSha256 } = data;

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
    for (const f of await pruneCheckpoints(checkpointsDir, config.save_total_limit, [best]))
      log(`kept ${f} in an old checkpoint's folder: the run did not write it`, 'warn');
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
  if (outcome.skipped.microBatches > 0)
    log(
      `skipped ${outcome.skipped.microBatches} micro-batches with no token to train on (${outcome.skipped.steps} whole steps made no update)`,
      'warn',
    );
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
 * The checkpoint to continue from. `true` takes the newest whole one; when there is none in a folder that holds a
 * run, continuing is impossible and starting again from step 0 would add a second history to the run's metrics, so
 * the run is refused: --overwrite starts it over cleanly. In a new folder there is nothing to continue or mix.
 */
async function findResumeCheckpoint(config: FinetuneConfig, paths: RunPaths, log: (m: string, l?: 'info' | 'warn') => void) {
  const r = config.resume_from_checkpoint;
  if (!isResuming(config) || r === null || r === false) return undefined;
  if (r === true || r === 'true') {
    const root = paths.checkpoints;
    const dir = await latestGoodCheckpoint(root, (m) => log(m, 'warn'));
    if (dir) return dir;
    const names = checkpointNames(root);
    if (names.length > 0 || runFilesIn(paths.dir).length > 0) {
      const why = names.length
        ? `none of its ${names.length} checkpoint(s) is whole (${names.join(', ')}: see the lines above)`
        : 'it holds a run but no checkpoint of it';
      throw new StudioError(
        `cannot resume: ${why}, so there is nothing to continue from. Start the run over with --overwrite true (removes the run's files, keeps any other), or choose another output_dir`,
        paths.dir,
        'run/nothing-to-resume',
      );
    }
    log(`no checkpoint to resume from in ${root} (a new run folder); starting from scratch`, 'warn');
    return undefined;
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
