import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EpochBatches, PAD_ID, PAD_MULTIPLE } from '../data/batches.ts';
import { IGNORE_INDEX, type EncodedExample } from '../data/encode.ts';
import { lossTokenCount } from '../data/stats.ts';
import { withAtomicDir } from '../fs/atomic-dir.ts';
import { openCheckpoint } from '../formats/hf-checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../formats/safetensors.ts';
import { checkpointBaseDtype } from '../llama/base-dtype.ts';
import { BASE_DTYPES } from '../llama/base-dtype-names.ts';
import { bytesPerWeight } from '../llama/block-quant.ts';
import { loadLlamaConfig, type LlamaConfig } from '../llama/config.ts';
import { checkLoraRank, PROJECTIONS, projectionShape, type ProjectionName } from '../llama/projections.ts';
import { parameterCount } from '../llama/tensors.ts';
import { estimateTrainingMemory } from '../system/memory-estimate.ts';
import { parseFinetuneConfig, type FinetuneConfig } from './config.ts';
import { refuseCutoffBeyondContext } from './run-start-checks.ts';
import { prepareTrainingData } from './prepare-data.ts';
import { stepLimit, stepsFor } from './run-plan.ts';

/**
 * A run prepared for the cluster trainer (cluster-trainer/, PyTorch): everything the local trainer derives from the
 * settings before its first step, written once so the cluster needs no tokenizer, no template and no data file, and
 * cannot disagree with a local run of the same settings. The base model is not copied: it is a path on the cluster.
 *
 *   bundle.json            format, the resolved settings, the base's config.json, the step plan, the memory
 *                          estimate, and the SHA-256 of every other file
 *   prepared.safetensors   the encoded train and validation examples (token ids, labels with -100, row offsets) and
 *                          the example order of every epoch
 *
 * cluster-trainer/cluster_trainer/bundle.py is its reader; the two must change together (BUNDLE_VERSION).
 */
export const BUNDLE_FORMAT = 'lora-studio-cluster-bundle';
export const BUNDLE_VERSION = 1;
export const BUNDLE_FILE = 'bundle.json';
export const PREPARED_FILE = 'prepared.safetensors';

export interface PreparedRunSummary {
  bundleDir: string;
  trainRows: number;
  validationRows: number;
  /** Labels that reach the loss in one pass over the training split (after the causal shift: data/stats.ts). */
  trainedTokensPerEpoch: number;
  totalSteps: number;
  bundleBytes: number;
  files: Record<string, { bytes: number; sha256: string }>;
}

/** The optimizer steps of a run (run-plan.ts's rules), whatever the number of processes that share them. */
export interface BundlePlan {
  /** Micro-batches per optimizer step on one process (batch_size / micro_batch_size). */
  gradientAccumulation: number;
  microBatchesPerEpoch: number;
  stepsPerEpoch: number;
  /** Whole epochs the data order is drawn for (num_epochs rounded up). */
  epochs: number;
  /** The step limit: max_steps, or num_epochs (fractional too) worth of steps. */
  maxSteps: number;
  totalSteps: number;
}

export function bundlePlan(config: FinetuneConfig, trainExamples: number): BundlePlan {
  const gradientAccumulation = config.batch_size / config.micro_batch_size;
  const microBatchesPerEpoch = Math.ceil(trainExamples / config.micro_batch_size);
  const maxSteps = stepLimit(microBatchesPerEpoch, gradientAccumulation, config.num_epochs, config.max_steps);
  return {
    gradientAccumulation,
    microBatchesPerEpoch,
    stepsPerEpoch: Math.ceil(microBatchesPerEpoch / gradientAccumulation),
    epochs: Math.ceil(config.num_epochs),
    maxSteps,
    totalSteps: stepsFor(microBatchesPerEpoch, gradientAccumulation, config.num_epochs, maxSteps),
  };
}

/** The parts of a bundle; prepareRunBundle makes them from settings, the cluster bench from synthetic rows. */
export interface RunBundleParts {
  config: FinetuneConfig;
  base: { path: string; config: LlamaConfig; checkpointDtype: 'f32' | 'bf16' | 'f16' | null };
  train: Pick<EncodedExample, 'inputIds' | 'labels'>[];
  validation: Pick<EncodedExample, 'inputIds' | 'labels'>[];
  epochOrders: number[][];
  plan: BundlePlan;
  dataSha256: string;
}

/**
 * Resolve `settings` as `finetune` does (the same schema and defaults), prepare the data through the local trainer's
 * own functions, and write the bundle into `bundleDir` (a new or empty folder) atomically.
 */
export async function prepareRunBundle(
  settings: unknown,
  bundleDir: string,
  opts: { onProgress?: (message: string, level?: 'info' | 'warn') => void } = {},
): Promise<PreparedRunSummary> {
  const log = opts.onProgress ?? (() => undefined);
  const config = parseFinetuneConfig(settings, 'cluster run settings');
  const modelConfig = await loadLlamaConfig(config.base_model);
  refuseCutoffBeyondContext(config, modelConfig);
  checkLoraRank(modelConfig, config.lora_r, targetsOf(config));
  // The local trainer's own data path: the same rows, split, template, tokens, masks and refusals.
  const data = await prepareTrainingData(config);
  for (const n of data.notes) log(n.message, n.level);
  const plan = bundlePlan(config, data.trainExamples.length);
  const batches = new EpochBatches(data.trainExamples, config.micro_batch_size, config.seed, config.group_by_length);
  return writeRunBundle(bundleDir, {
    config,
    base: { path: config.base_model, config: modelConfig, checkpointDtype: await localCheckpointDtype(config.base_model) },
    train: data.trainExamples,
    validation: data.valExamples,
    epochOrders: Array.from({ length: plan.epochs }, (_, e) => batches.orderOf(e)),
    plan,
    dataSha256: data.dataSha256,
  });
}

/** Write a bundle from its parts (atomically: a hidden temp folder renamed into place). */
export async function writeRunBundle(bundleDir: string, parts: RunBundleParts): Promise<PreparedRunSummary> {
  const { config, plan } = parts;
  const n = parts.train.length;
  for (const [e, order] of parts.epochOrders.entries()) {
    if (order.length !== n || new Set(order).size !== n || order.some((i) => !(i >= 0 && i < n)))
      throw new Error(`writeRunBundle: epoch ${e}'s order is not a permutation of the ${n} training examples`);
  }
  const trainedTokensPerEpoch = parts.train.reduce((s, e) => s + lossTokenCount(e), 0);
  return withAtomicDir(bundleDir, async (dir) => {
    const prepared = path.join(dir, PREPARED_FILE);
    await writeSafetensors(
      prepared,
      [
        ...examplesTensors('train', parts.train),
        ...examplesTensors('validation', parts.validation),
        { name: 'epoch_order', dtype: 'I32', shape: [parts.epochOrders.length, n], data: i32Bytes(parts.epochOrders.flat()) },
      ],
      { metadata: { format: 'lora-studio-prepared', version: String(BUNDLE_VERSION) }, syncedByFolder: true },
    );
    const files = { [PREPARED_FILE]: await fileFacts(prepared) };
    const bundle = {
      format: BUNDLE_FORMAT,
      version: BUNDLE_VERSION,
      created: new Date().toISOString(),
      config,
      base_model: { path: parts.base.path, config: parts.base.config.raw, checkpoint_dtype: parts.base.checkpointDtype },
      plan: {
        batch_size: config.batch_size,
        micro_batch_size: config.micro_batch_size,
        gradient_accumulation: plan.gradientAccumulation,
        micro_batches_per_epoch: plan.microBatchesPerEpoch,
        steps_per_epoch: plan.stepsPerEpoch,
        epochs: plan.epochs,
        max_steps: plan.maxSteps,
        total_steps: plan.totalSteps,
        warmup_steps: config.warmup_steps,
        logging_steps: config.logging_steps,
        eval_steps: config.eval_steps,
        save_steps: config.save_steps,
        save_total_limit: config.save_total_limit,
        early_stopping_patience: config.early_stopping_patience,
      },
      data: {
        train_examples: n,
        validation_examples: parts.validation.length,
        trained_tokens_per_epoch: trainedTokensPerEpoch,
        data_sha256: parts.dataSha256,
        // The collator's constants (batches.ts, encode.ts): the cluster pads exactly as the local trainer.
        pad_id: PAD_ID,
        pad_multiple: PAD_MULTIPLE,
        ignore_index: IGNORE_INDEX,
      },
      memory: memoryFacts(config, parts.base.config),
      files,
    };
    await writeFile(path.join(dir, BUNDLE_FILE), JSON.stringify(bundle, null, 2) + '\n');
    const bundleBytes = files[PREPARED_FILE].bytes + (await stat(path.join(dir, BUNDLE_FILE))).size;
    return {
      bundleDir: path.resolve(bundleDir),
      trainRows: n,
      validationRows: parts.validation.length,
      trainedTokensPerEpoch,
      totalSteps: plan.totalSteps,
      bundleBytes,
      files,
    };
  });
}

/**
 * What the cluster trainer decides its parallelism from (DDP when a replica of the frozen base fits one device, else
 * the base sharded): the frozen base's bytes in each storage mode, LoRA and optimizer state, and the activations of
 * one micro-batch at cutoff_len (the engine's estimate, f32; under bf16 autocast they are about half).
 */
function memoryFacts(config: FinetuneConfig, model: LlamaConfig) {
  const params = parameterCount(model);
  const targets = targetsOf(config);
  const loraParams = targets.reduce((n, t) => {
    const [out, inF] = projectionShape(model, t);
    return n + model.numLayers * config.lora_r * (out + inF);
  }, 0);
  const estimate = estimateTrainingMemory(model, {
    microBatchSize: config.micro_batch_size,
    cutoffLen: config.cutoff_len,
    loraR: config.lora_r,
    targetModules: targets,
    gradientCheckpointing: config.gradient_checkpointing ?? false,
    baseDtype: 'f32',
    placement: 'device',
  });
  return {
    base_parameters: params,
    frozen_bytes: Object.fromEntries(BASE_DTYPES.map((d) => [d, Math.ceil(params * bytesPerWeight(d))])),
    lora_parameters: loraParams,
    lora_bytes: loraParams * 4,
    // AdamW's two moments and the gradient, f32
    optimizer_bytes: 3 * loraParams * 4,
    activation_bytes: estimate.activationsBytes,
  };
}

function targetsOf(config: FinetuneConfig): ProjectionName[] {
  return PROJECTIONS.filter((p) => config.lora_target_modules.includes(p));
}

/** The local checkpoint's dtype when its weights are here (a base folder with only config and tokenizer: null). */
async function localCheckpointDtype(dir: string): Promise<'f32' | 'bf16' | 'f16' | null> {
  try {
    const source = await openCheckpoint(dir);
    try {
      return checkpointBaseDtype(source, dir);
    } finally {
      await source.close();
    }
  } catch {
    return null;
  }
}

/** `<split>.input_ids` and `<split>.labels` (I32, every example end to end) and `<split>.offsets` (I64, n + 1). */
function examplesTensors(split: string, examples: Pick<EncodedExample, 'inputIds' | 'labels'>[]): TensorToWrite[] {
  const offsets = new BigInt64Array(examples.length + 1);
  examples.forEach((e, i) => {
    if (e.labels.length !== e.inputIds.length) throw new Error(`writeRunBundle: ${split} example ${i} has labels of another length`);
    offsets[i + 1] = offsets[i] + BigInt(e.inputIds.length);
  });
  const total = Number(offsets[examples.length]);
  return [
    { name: `${split}.input_ids`, dtype: 'I32', shape: [total], data: i32Bytes(examples.flatMap((e) => e.inputIds)) },
    { name: `${split}.labels`, dtype: 'I32', shape: [total], data: i32Bytes(examples.flatMap((e) => e.labels)) },
    { name: `${split}.offsets`, dtype: 'I64', shape: [examples.length + 1], data: new Uint8Array(offsets.buffer) },
  ];
}

function i32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Int32Array.from(values).buffer);
}

async function fileFacts(file: string): Promise<{ bytes: number; sha256: string }> {
  const data = await readFile(file);
  return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}
