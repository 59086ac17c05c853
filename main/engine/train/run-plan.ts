/**
 * How many rows, micro-batches and optimizer steps a run's settings make of a data file, and the settings that make
 * no sense for it. Node-free: finetune and the trainer count with it, and the wizard shows the same numbers and
 * warnings (translated by each warning's code) before anything starts.
 */

/** The settings the plan reads (the fine-tuning config's own names). */
export interface PlanSettings {
  batch_size: number;
  micro_batch_size: number;
  num_epochs: number;
  max_steps: number;
  val_set_size: number;
  warmup_steps: number;
  eval_steps: number;
  early_stopping_patience: number;
}

export interface RunPlan {
  /** Rows after validation is held out (never below 0). */
  trainRows: number;
  validationRows: number;
  /** Micro-batches per optimizer step (batch_size / micro_batch_size). */
  accumulation: number;
  microBatchesPerEpoch: number;
  /** Optimizer steps in one whole epoch (a partial last accumulation still steps, as the HF Trainer counts). */
  stepsPerEpoch: number;
  /** Steps the epochs hold: num_epochs of them, a fractional last epoch cut short (as the HF Trainer does). */
  epochSteps: number;
  totalSteps: number;
  /** Validation passes: one every eval_steps, and one at the last step (none without validation rows). */
  evaluations: number;
}

/**
 * Optimizer steps for a run: `maxSteps` (0: no limit) within the whole epochs that `numEpochs` rounds up to. The
 * trainer's totalSteps and this plan use this one rule.
 */
export function stepsFor(microBatchesPerEpoch: number, accumulation: number, numEpochs: number, maxSteps: number): number {
  const perEpoch = Math.ceil(microBatchesPerEpoch / accumulation);
  const all = perEpoch * Math.ceil(numEpochs);
  return maxSteps > 0 ? Math.min(maxSteps, all) : all;
}

/**
 * The step limit finetune gives the trainer: max_steps, or the steps of num_epochs (fractional epochs cut short). An
 * epoch is ceil(micro-batches / accumulation) steps, its last accumulation partial, so whole epochs are whole multiples
 * of that (the fraction of the micro-batches alone would drop the last epoch's partial step).
 */
export function stepLimit(microBatchesPerEpoch: number, accumulation: number, numEpochs: number, maxSteps: number): number {
  return maxSteps > 0 ? maxSteps : Math.ceil(Math.ceil(microBatchesPerEpoch / accumulation) * numEpochs);
}

/** Whether the trainer evaluates after `step` of `total` (eval_steps 0: only at the end). */
export function evaluatesAt(step: number, total: number, evalSteps: number): boolean {
  return step === total || (evalSteps > 0 && step % evalSteps === 0);
}

export function planRun(s: PlanSettings, usableRows: number): RunPlan {
  const validationRows = Math.max(0, Math.min(s.val_set_size, usableRows));
  const trainRows = s.val_set_size >= usableRows ? 0 : usableRows - validationRows;
  const accumulation = Math.max(1, Math.floor(s.batch_size / s.micro_batch_size));
  const microBatchesPerEpoch = Math.ceil(trainRows / s.micro_batch_size);
  const stepsPerEpoch = Math.ceil(microBatchesPerEpoch / accumulation);
  const epochSteps = stepLimit(microBatchesPerEpoch, accumulation, s.num_epochs, 0);
  // finetune's rule: a step limit (max_steps, or the steps of fractional epochs) within the whole epochs.
  const totalSteps = stepsFor(
    microBatchesPerEpoch,
    accumulation,
    s.num_epochs,
    stepLimit(microBatchesPerEpoch, accumulation, s.num_epochs, s.max_steps),
  );
  let evaluations = 0;
  if (validationRows > 0 && totalSteps > 0) {
    const periodic = s.eval_steps > 0 ? Math.floor(totalSteps / s.eval_steps) : 0;
    evaluations = periodic + (s.eval_steps > 0 && totalSteps % s.eval_steps === 0 ? 0 : 1);
  }
  return { trainRows, validationRows, accumulation, microBatchesPerEpoch, stepsPerEpoch, epochSteps, totalSteps, evaluations };
}

/**
 * A setting that makes no sense for the data. `error`s would make the run fail (refused before it starts);
 * `warning`s run, but not as the user likely meant. `params` carry the numbers, for a translated message.
 */
interface PlanWarning {
  code:
    | 'val-set-too-large'
    | 'no-train-rows'
    | 'batch-exceeds-rows'
    | 'warmup-exceeds-steps'
    | 'max-steps-capped'
    | 'single-evaluation'
    | 'patience-unreachable';
  severity: 'error' | 'warning';
  /** The setting to change. */
  field: keyof PlanSettings;
  params: Record<string, number>;
  message: string;
}

/** Every setting that makes no sense for `usableRows` rows, with what happens and what to do. */
export function planWarnings(s: PlanSettings, usableRows: number): PlanWarning[] {
  const out: PlanWarning[] = [];
  const p = planRun(s, usableRows);
  if (s.val_set_size > 0 && s.val_set_size >= usableRows) {
    out.push({
      code: 'val-set-too-large',
      severity: 'error',
      field: 'val_set_size',
      params: { validation: s.val_set_size, rows: usableRows },
      message: `val_set_size (${s.val_set_size}) must be smaller than the ${usableRows} usable rows; lower it, or 0 for no validation`,
    });
    return out; // nothing is left to train on: the other figures would only repeat it
  }
  if (p.trainRows === 0) {
    out.push({
      code: 'no-train-rows',
      severity: 'error',
      field: 'val_set_size',
      params: { rows: usableRows },
      message: 'no usable row is left to train on',
    });
    return out;
  }
  if (s.batch_size > p.trainRows)
    out.push({
      code: 'batch-exceeds-rows',
      severity: 'warning',
      field: 'batch_size',
      params: { batch: s.batch_size, rows: p.trainRows, epochs: Math.ceil(s.num_epochs) },
      message: `batch_size ${s.batch_size} is more than the ${p.trainRows} training rows: each epoch is a single optimizer step (${Math.ceil(s.num_epochs)} in all); lower batch_size`,
    });
  if (s.max_steps > 0 && s.max_steps > p.totalSteps)
    out.push({
      code: 'max-steps-capped',
      severity: 'warning',
      field: 'max_steps',
      params: { maxSteps: s.max_steps, steps: p.totalSteps, epochs: s.num_epochs },
      message: `max_steps ${s.max_steps} is more than the ${p.totalSteps} steps that num_epochs ${s.num_epochs} holds: the run ends after ${p.totalSteps}; raise num_epochs to train longer`,
    });
  if (s.warmup_steps >= p.totalSteps && s.warmup_steps > 0)
    out.push({
      code: 'warmup-exceeds-steps',
      severity: 'warning',
      field: 'warmup_steps',
      params: { warmup: s.warmup_steps, steps: p.totalSteps },
      message: `warmup_steps ${s.warmup_steps} is not less than the run's ${p.totalSteps} steps: the learning rate never reaches learning_rate; lower warmup_steps`,
    });
  if (p.validationRows > 0 && s.eval_steps > p.totalSteps)
    out.push({
      code: 'single-evaluation',
      severity: 'warning',
      field: 'eval_steps',
      params: { evalSteps: s.eval_steps, steps: p.totalSteps },
      message: `eval_steps ${s.eval_steps} is more than the run's ${p.totalSteps} steps: validation runs only once, at the end; lower eval_steps to follow it`,
    });
  if (p.validationRows > 0 && s.early_stopping_patience > 0 && p.evaluations <= s.early_stopping_patience)
    out.push({
      code: 'patience-unreachable',
      severity: 'warning',
      field: 'early_stopping_patience',
      params: { patience: s.early_stopping_patience, evaluations: p.evaluations },
      message: `early_stopping_patience ${s.early_stopping_patience} needs more than the run's ${p.evaluations} evaluations: it can never stop early`,
    });
  return out;
}
