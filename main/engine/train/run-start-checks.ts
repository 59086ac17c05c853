import path from 'node:path';
import { StudioError } from '../errors.ts';
import { acquireLock, type HeldLock } from '../fs/folder-lock.ts';
import { withFsErrors } from '../fs/fs-errors.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import { makeOutputFolder, refuseOutputOverInputs } from '../fs/output-folder.ts';
import { DEFAULT_MAX_POSITIONS, usableContext, type LlamaConfig } from '../llama/config.ts';
import { checkLoraScale } from '../llama/lora-scale.ts';
import type { FinetuneConfig } from './config.ts';
import { describeChanges, resumeSettingChanges } from './resume-settings.ts';
import { runFilesIn, setAsideFailedStart, TRAINING_CONFIG, type RunPaths } from './run-folder.ts';
import { removeRunFiles } from './run-overwrite.ts';

/** The checks a fine-tuning run makes before it loads anything heavy: settings against the model, and its folder. */

/**
 * cutoff_len above the model's context is refused, not clamped: positions past max_position_embeddings are ones the
 * model never saw (RoPE gives them angles it was not trained on), attention cost grows with the square of the length,
 * and a silent clamp would train on other data than the user asked for. A sliding window (Mistral's sliding_window)
 * shorter than that is the limit: beyond it the model attends to a window, which the engine does not do.
 */
export function refuseCutoffBeyondContext(config: FinetuneConfig, model: LlamaConfig): void {
  const context = usableContext(model);
  if (config.cutoff_len <= context.tokens) return;
  if (context.by === 'sliding_window') {
    throw new StudioError(
      `cutoff_len ${config.cutoff_len} is above the model's sliding_window of ${context.tokens} tokens: past it the model attends only to the last ${context.tokens} positions, which LoRA Studio does not do (it would train other attention than the model's); set cutoff_len to ${context.tokens} or less`,
      path.join(config.base_model, 'config.json'),
      'config/cutoff-len',
    );
  }
  const declared =
    model.raw.max_position_embeddings === undefined
      ? ` (config.json gives no max_position_embeddings; ${DEFAULT_MAX_POSITIONS} assumed)`
      : '';
  throw new StudioError(
    `cutoff_len ${config.cutoff_len} is above the model's context of ${model.maxPositions} tokens${declared}; set cutoff_len to ${model.maxPositions} or less`,
    path.join(config.base_model, 'config.json'),
    'config/cutoff-len',
  );
}

/** lora_alpha / lora_r (or / √r with rsLoRA) outside the sane range is a typo, refused with the figure. */
export function refuseAbsurdLoraScale(config: FinetuneConfig): void {
  const problem = checkLoraScale({ r: config.lora_r, alpha: config.lora_alpha, useRslora: config.use_rslora });
  if (problem) throw new StudioError(problem, undefined, 'config/lora-scale');
}

export function isResuming(config: FinetuneConfig): boolean {
  const r = config.resume_from_checkpoint;
  return !(r === null || r === false || r === 'false');
}

/**
 * Make the run folder its writer's: refuse a folder that is, lies inside or holds the base model (or lies inside the
 * checkpoint it resumes from), make it, and take its lock (one writer at a time; a second is refused naming the
 * first). Then prepareRunFolder. Returns the lock, which the caller releases when the run ends, and the log's notes.
 */
export async function claimRunFolder(config: FinetuneConfig, paths: RunPaths): Promise<{ lock: HeldLock; notes: string[] }> {
  if (config.overwrite && isResuming(config)) {
    throw new StudioError(
      'resume_from_checkpoint and overwrite both set: resume the run or start it over, not both',
      paths.dir,
      'run/conflict',
    );
  }
  const rule = { output: paths.dir, flag: 'output_dir', who: 'a fine-tuning run', code: 'run/inside-input' };
  refuseOutputOverInputs({ ...rule, inputs: [['base_model', config.base_model]], refuseHolding: true });
  const r = config.resume_from_checkpoint;
  // The run's own checkpoints lie inside its folder: holding the checkpoint is how a resume works.
  if (typeof r === 'string' && r !== 'true') refuseOutputOverInputs({ ...rule, inputs: [['resume_from_checkpoint', r]] });
  await makeOutputFolder(paths.dir, 'output_dir');
  const lock = await withFsErrors(paths.dir, 'write', () => acquireLock(paths.lock, paths.dir, 'finetune'));
  try {
    return { lock, notes: await prepareRunFolder(config, paths) };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/**
 * A folder that already holds a run is refused unless the run is resumed or `overwrite` is set (then the old run's
 * files, and only those, are removed first). Returns what was done, as sentences for the log: two runs in one folder
 * mix their checkpoints and metrics, and a later resume would continue the wrong one.
 */
async function prepareRunFolder(config: FinetuneConfig, paths: RunPaths): Promise<string[]> {
  const existing = runFilesIn(paths.dir);
  if (isResuming(config)) return [];
  if (existing.length === 0) {
    const aside = await setAsideFailedStart(paths.dir);
    return aside ? [`kept the log of an earlier start that failed before step 1 as ${path.basename(aside)}`] : [];
  }
  if (!config.overwrite) {
    throw new StudioError(
      `already holds a run (${existing.join(', ')}). Continue it with --resume_from_checkpoint true, start it over with --overwrite true (deletes those files), or choose another output_dir`,
      paths.dir,
      'run/exists',
    );
  }
  const { removed, kept } = await removeRunFiles(paths.dir);
  const notes = [`overwrite: removed the previous run's ${removed.length} file(s) from ${paths.dir} (${describeList(removed)})`];
  if (kept.length) notes.push(`overwrite: kept ${kept.length} file(s) the run did not write: ${describeList(kept)}`);
  return notes;
}

function describeList(names: string[]): string {
  return names.length > 6 ? `${names.slice(0, 6).join(', ')}, …` : names.join(', ');
}

/** Name every setting that differs from the checkpoint's; refuse those the checkpoint cannot continue with. */
export async function checkResumeSettings(
  config: FinetuneConfig,
  checkpoint: string,
  log: (m: string, l?: 'info' | 'warn') => void,
): Promise<void> {
  const file = path.join(checkpoint, TRAINING_CONFIG);
  let saved: Record<string, unknown>;
  try {
    saved = (await readJsonFile(file, { maxBytes: JSON_FILE_LIMITS.config, code: 'checkpoint/config' })) as Record<string, unknown>;
  } catch {
    return; // verified by its manifest; a checkpoint written before training_config.json existed has nothing to compare
  }
  const { refused, changed } = resumeSettingChanges(saved, config);
  if (refused.length) {
    throw new StudioError(
      `cannot resume with ${describeChanges(refused)}: the checkpoint's LoRA weights, optimizer moments and position were made with the first values. ` +
        'Resume with the saved settings, or start a new run (another output_dir, or --overwrite true)',
      file,
      'run/resume-settings',
    );
  }
  if (changed.length)
    log(
      `resuming with settings that differ from ${file}: ${describeChanges(changed)}; the result will not equal an uninterrupted run`,
      'warn',
    );
}
