/**
 * Where each fine-tuning setting sits in the wizard. The names are the engine config schema's; a test holds this
 * table to the schema, so a new setting cannot be left out of the form unnoticed.
 */

export const GROUPS = {
  essentials: ['num_epochs', 'max_steps', 'learning_rate', 'batch_size', 'micro_batch_size', 'cutoff_len', 'base_dtype'],
  lora: ['lora_r', 'lora_alpha', 'lora_dropout', 'lora_target_modules', 'use_rslora'],
  schedule: ['val_set_size', 'eval_steps', 'warmup_steps', 'logging_steps', 'early_stopping_patience', 'max_grad_norm', 'weight_decay'],
  advanced: ['seed', 'threads', 'backend', 'gradient_checkpointing', 'save_steps', 'save_total_limit', 'group_by_length', 'on_bad_rows'],
} as const;
export type GroupName = keyof typeof GROUPS;

/** Set on the Data step (cutoff_len is there too, beside its length histogram, and in Essentials). */
export const DATA_FIELDS = ['prompt_template_name', 'cutoff_len', 'train_on_inputs', 'add_eos_token'] as const;

/**
 * Never in the form: the model and data paths have steps of their own, the run folder is the run-name field, resume
 * and overwrite belong to the Runs page, and the deprecated spellings of base_dtype are for config files and the CLI.
 */
export const NOT_IN_FORM = [
  'base_model',
  'data_path',
  'output_dir',
  'resume_from_checkpoint',
  'overwrite',
  'load_in_8bit',
  'load_in_4bit',
  'frozen_dtype',
] as const;

/** The settings the form edits, once each: the groups and the Data step's. */
export const FORM_FIELDS: string[] = [...new Set<string>([...Object.values(GROUPS).flat(), ...DATA_FIELDS])];

export type WizardStep = 'model' | 'data' | 'training' | 'review';

/** The step a setting's problem belongs to (its pill turns red): the step where the setting is edited first. */
export function stepOfField(name: string): WizardStep {
  if (name === 'base_model') return 'model';
  if (name === 'data_path' || (DATA_FIELDS as readonly string[]).includes(name)) return 'data';
  if (name === 'output_dir') return 'review';
  return 'training';
}
