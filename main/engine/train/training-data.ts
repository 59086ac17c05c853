import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EpochBatches, splitTrainValidation } from '../data/batches.ts';
import { loadAlpacaRows } from '../data/dataset.ts';
import { encodeExample, type EncodedExample } from '../data/encode.ts';
import { datasetStats, overLongProblems, type DataStats } from '../data/stats.ts';
import type { PromptTemplate } from '../data/templates.ts';
import { StudioError } from '../errors.ts';
import type { StudioTokenizer } from '../tokenizer/tokenizer.ts';
import type { FinetuneConfig } from './config.ts';

/**
 * What a fine-tuning run trains on, made once from the settings: the data file read and checked, split, templated,
 * tokenized and masked, and the plan of optimizer steps. The local trainer (finetune.ts) and the cluster bundle
 * (prepared-run.ts) both call these two functions, so a cluster run cannot see other examples, masks or step counts
 * than a local run with the same settings. No tfjs here: preparing a bundle loads no model.
 */

export interface TrainingData {
  train: EncodedExample[];
  validation: EncodedExample[];
  stats: DataStats;
  /** SHA-256 of the data file (a checkpoint records it; a resume warns when it changed). */
  dataSha256: string;
}

type Log = (message: string, level?: 'info' | 'warn') => void;

/** Read, check, split and encode the data file as `config` says; report what happened through `log`. */
export function prepareTrainingData(config: FinetuneConfig, tokenizer: StudioTokenizer, template: PromptTemplate, log: Log): TrainingData {
  const data = loadAlpacaRows(config.data_path, { onBadRow: config.on_bad_rows });
  const errors = data.report.problems.filter((p) => p.severity === 'error');
  log(
    `data: ${data.report.total} rows in ${config.data_path}, ${data.rows.length} used${errors.length ? `, ${errors.length} skipped` : ''}`,
  );
  for (const p of errors.slice(0, 10)) log(`skipped ${p.message}`, 'warn');
  const encode = { cutoffLen: config.cutoff_len, trainOnInputs: config.train_on_inputs, addEosToken: config.add_eos_token };
  const split = splitTrainValidation(data.rows, config.val_set_size, 42, config.data_path);
  const train = split.train.map((r) => encodeExample(tokenizer, template, r, encode));
  const validation = split.validation.map((r) => encodeExample(tokenizer, template, r, encode));
  const stats = datasetStats(train, config.cutoff_len);
  if (stats.trainedTokens === 0) {
    throw new StudioError(
      `no training example has a token left to learn at cutoff_len ${config.cutoff_len}${config.train_on_inputs ? '' : ' (the prompts fill it and train_on_inputs is off)'}; raise cutoff_len or turn train_on_inputs on`,
      config.data_path,
      'data/nothing-to-train',
    );
  }
  const overLong = overLongProblems([...train, ...validation], config.cutoff_len);
  for (const p of overLong.slice(0, 5)) log(p.message, 'warn');
  if (overLong.length > 5) log(`${overLong.length - 5} more rows are cut at cutoff_len ${config.cutoff_len}`, 'warn');
  log(
    `train ${train.length} / validation ${validation.length} examples; mean ${stats.meanLength.toFixed(0)} tokens, ` +
      `${(stats.truncatedShare * 100).toFixed(1)}% cut at cutoff_len ${config.cutoff_len}`,
  );
  const dataSha256 = createHash('sha256').update(readFileSync(config.data_path)).digest('hex');
  return { train, validation, stats, dataSha256 };
}

/** The optimizer steps of a run, as the HF Trainer counts them. Independent of how many processes share the work. */
export interface TrainingPlan {
  /** Micro-batches per optimizer step on one process (batch_size / micro_batch_size). */
  gradientAccumulation: number;
  /** Micro-batches of micro_batch_size in one epoch (the last may be smaller). */
  microBatchesPerEpoch: number;
  /** Optimizer steps in one whole epoch (a partial last accumulation still steps). */
  stepsPerEpoch: number;
  /** Whole epochs the data order is drawn for (num_epochs rounded up). */
  epochs: number;
  /** The step limit: max_steps, or num_epochs (fractional too) worth of steps. */
  maxSteps: number;
  totalSteps: number;
}

export function trainingPlan(config: FinetuneConfig, trainExamples: number): TrainingPlan {
  const gradientAccumulation = config.batch_size / config.micro_batch_size;
  const microBatchesPerEpoch = Math.ceil(trainExamples / config.micro_batch_size);
  const epochs = Math.ceil(config.num_epochs);
  // Fractional epochs (num_epochs 0.5) become a step limit, as the HF Trainer does.
  const epochSteps = Math.ceil((microBatchesPerEpoch / gradientAccumulation) * config.num_epochs);
  const maxSteps = config.max_steps > 0 ? config.max_steps : epochSteps;
  const stepsPerEpoch = Math.ceil(microBatchesPerEpoch / gradientAccumulation);
  return {
    gradientAccumulation,
    microBatchesPerEpoch,
    stepsPerEpoch,
    epochs,
    maxSteps,
    totalSteps: countSteps(microBatchesPerEpoch, gradientAccumulation, epochs, maxSteps),
  };
}

/** Optimizer steps for the whole run (a partial last accumulation of an epoch still steps), at most maxSteps when set. */
export function countSteps(microBatchesPerEpoch: number, gradientAccumulation: number, epochs: number, maxSteps: number): number {
  const all = Math.ceil(microBatchesPerEpoch / gradientAccumulation) * epochs;
  return maxSteps > 0 ? Math.min(maxSteps, all) : all;
}

/** The example order of each epoch the plan can reach, as the local trainer draws it (seed, group_by_length). */
export function epochOrders(config: FinetuneConfig, train: EncodedExample[], plan: TrainingPlan): number[][] {
  const batches = new EpochBatches(train, config.micro_batch_size, config.seed, config.group_by_length);
  return Array.from({ length: plan.epochs }, (_, e) => batches.orderOf(e));
}
