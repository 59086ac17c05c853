import { readFileSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { makeOutputFolder } from '../fs/output-folder.ts';
import { DEFAULT_MAX_POSITIONS, type LlamaConfig } from '../llama/config.ts';
import type { FinetuneConfig } from './config.ts';
import { describeChanges, resumeSettingChanges } from './resume-settings.ts';
import { removeRunFiles, runFilesIn, setAsideFailedStart, type RunPaths } from './run-folder.ts';
import { TRAINING_CONFIG } from './run-state.ts';

/** The checks a fine-tuning run makes before it loads anything heavy: settings against the model, and its folder. */

/**
 * cutoff_len above the model's context is refused, not clamped: positions past max_position_embeddings are ones the
 * model never saw (RoPE gives them angles it was not trained on), attention cost grows with the square of the length,
 * and a silent clamp would train on other data than the user asked for.
 */
export function refuseCutoffBeyondContext(config: FinetuneConfig, model: LlamaConfig): void {
  if (config.cutoff_len <= model.maxPositions) return;
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

export function isResuming(config: FinetuneConfig): boolean {
  const r = config.resume_from_checkpoint;
  return !(r === null || r === false || r === 'false');
}

/**
 * Check the output folder and make it. A folder that already holds a run is refused unless the run is resumed or
 * `overwrite` is set (then the old run's files are removed first). Returns what was done, as sentences for the log: two runs in one folder
 * mix their checkpoints and metrics, and a later resume would continue the wrong one.
 */
export async function prepareRunFolder(config: FinetuneConfig, paths: RunPaths): Promise<string[]> {
  if (config.overwrite && isResuming(config)) {
    throw new StudioError(
      'resume_from_checkpoint and overwrite both set: resume the run or start it over, not both',
      paths.dir,
      'run/conflict',
    );
  }
  await makeOutputFolder(paths.dir, 'output_dir');
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
  const removed = await removeRunFiles(paths.dir);
  return [`overwrite: removed the previous run's ${removed.join(', ')} from ${paths.dir}`];
}

/** Name every setting that differs from the checkpoint's; refuse those the checkpoint cannot continue with. */
export function checkResumeSettings(config: FinetuneConfig, checkpoint: string, log: (m: string, l?: 'info' | 'warn') => void): void {
  const file = path.join(checkpoint, TRAINING_CONFIG);
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
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
