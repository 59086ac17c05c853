import { isDeepStrictEqual } from 'node:util';
import type { FinetuneConfig } from './config.ts';

/**
 * Settings a resumed run may not change. The checkpoint's LoRA weights and AdamW moments have the shape and scale of
 * these (r, alpha, rsLoRA, target modules), and its position counts micro-batches of this size inside optimizer
 * steps of this size: continuing with others would make an adapter that belongs to neither run. Every other change
 * (learning rate, steps, validation size, data, seed, dropout, backend…) is a legitimate way to continue, but it
 * breaks exact resumption, so it is named.
 */
const FIXED_ON_RESUME = ['lora_r', 'lora_alpha', 'use_rslora', 'lora_target_modules', 'batch_size', 'micro_batch_size'] as const;

/**
 * Not settings of the run itself: where it goes, how it was started, and gradient checkpointing (it trades time for
 * memory and gives the same gradients, so a run may resume with it on or off and stay exact).
 */
const NOT_COMPARED = new Set(['output_dir', 'resume_from_checkpoint', 'overwrite', 'gradient_checkpointing']);

interface SettingChange {
  name: string;
  was: unknown;
  now: unknown;
}

/** The settings of `now` that differ from the config the checkpoint was written under, split as above. */
export function resumeSettingChanges(
  saved: Record<string, unknown>,
  now: FinetuneConfig,
): { refused: SettingChange[]; changed: SettingChange[] } {
  const refused: SettingChange[] = [];
  const changed: SettingChange[] = [];
  for (const [name, value] of Object.entries(now)) {
    if (NOT_COMPARED.has(name) || !(name in saved) || isDeepStrictEqual(saved[name], value)) continue;
    const change = { name, was: saved[name], now: value };
    ((FIXED_ON_RESUME as readonly string[]).includes(name) ? refused : changed).push(change);
  }
  return { refused, changed };
}

/** `learning_rate 0.0003 → 0.001, val_set_size 16 → 0` */
export function describeChanges(changes: SettingChange[]): string {
  return changes.map((c) => `${c.name} ${JSON.stringify(c.was)} → ${JSON.stringify(c.now)}`).join(', ');
}
