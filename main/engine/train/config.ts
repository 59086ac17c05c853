import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BACKEND_CHOICES } from '../backend/choices.ts';
import { FormatError } from '../errors.ts';
import { BUILTIN_TEMPLATE_NAMES } from '../data/template-names.ts';
import { projectionNameSchema } from '../model/projections.ts';

/**
 * The one schema for a fine-tuning run. Alpaca-LoRA's finetune.py flags keep their names and defaults; ours follow.
 * It feeds the CLI flags, the studio's wizard form (via z.toJSONSchema: type, default and help of each field),
 * the run's saved config.json and validation.
 */
export const finetuneConfigSchema = z.object({
  base_model: z.string().min(1).describe('Base model folder in Hugging Face layout (config.json, *.safetensors, tokenizer.json).'),
  data_path: z.string().min(1).describe('Alpaca-style data: a JSON array or JSON lines of {instruction, input?, output}.'),
  output_dir: z.string().default('./lora-alpaca').describe('Run folder: config, metrics.jsonl, checkpoints/ and the final adapter/.'),
  batch_size: z.number().int().positive().default(128).describe('Examples per optimizer step (gradient accumulation = batch_size / micro_batch_size).'),
  micro_batch_size: z.number().int().positive().default(4).describe('Examples per forward/backward pass; lower it to save memory.'),
  num_epochs: z.number().positive().default(3).describe('Passes over the training data.'),
  learning_rate: z.number().positive().default(3e-4).describe('Peak learning rate of AdamW after warmup.'),
  cutoff_len: z.number().int().positive().default(256).describe('Tokens kept per example; longer examples are cut.'),
  val_set_size: z.number().int().nonnegative().default(2000).describe('Examples held out for validation (seed 42); 0 disables evaluation.'),
  lora_r: z.number().int().positive().default(8).describe('LoRA rank r: the width of the low-rank update.'),
  lora_alpha: z.number().positive().default(16).describe('LoRA alpha: the update is scaled by alpha / r (alpha / √r with rsLoRA).'),
  lora_dropout: z.number().min(0).max(1).default(0.05).describe('Dropout on the LoRA input during training.'),
  lora_target_modules: z
    .array(projectionNameSchema)
    .min(1)
    .default(['q_proj', 'v_proj'])
    .describe('Projections that get a LoRA update: any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.'),
  train_on_inputs: z.boolean().default(true).describe('Also learn the prompt tokens; false masks them out of the loss.'),
  add_eos_token: z
    .boolean()
    .default(false)
    .describe("Alpaca-LoRA's flag: every example ends in EOS when it fits (its code always adds it); with the flag the prompt mask counts the prompt's own EOS."),
  group_by_length: z.boolean().default(false).describe('Batch examples of similar length together: faster, but a less smooth loss curve.'),
  resume_from_checkpoint: z
    .union([z.string(), z.boolean()])
    .nullable()
    .default(null)
    .describe('A checkpoint folder to continue from, or true for the newest good checkpoint in output_dir.'),
  prompt_template_name: z.string().default('alpaca').describe(`${BUILTIN_TEMPLATE_NAMES.join(', ')}, or a template JSON file.`),
  // Ours, beyond Alpaca-LoRA:
  backend: z.enum(BACKEND_CHOICES).default('auto').describe('tfjs backend: auto picks the fastest that loads (tfjs-node-gpu, WebGPU on a hardware adapter, tfjs-node, wasm, cpu); webgpu-software is the slow SwiftShader adapter, for tests.'),
  threads: z.number().int().positive().optional().describe('Threads for the wasm backend (default: all cores).'),
  frozen_dtype: z
    .enum(['auto', 'f32', 'f16'])
    .default('auto')
    .describe('How the frozen base weights are held: f16 packs them as halves on a WebGPU device (2 bytes a weight instead of 8); auto does so when the checkpoint is 16-bit already.'),
  seed: z.number().int().nonnegative().default(42).describe('Seed for LoRA init, data order and dropout: same seed, same run.'),
  max_steps: z.number().int().nonnegative().default(0).describe('Stop after this many optimizer steps (0: run all epochs).'),
  warmup_steps: z.number().int().nonnegative().default(100).describe('Steps of linear warmup before linear decay to 0.'),
  logging_steps: z.number().int().positive().default(10).describe('Report loss, learning rate and speed every N steps.'),
  eval_steps: z.number().int().nonnegative().default(200).describe('Evaluate on the validation split every N steps (0: only at the end).'),
  save_steps: z.number().int().nonnegative().default(200).describe('Write a checkpoint every N steps (0: only the best and the last).'),
  save_total_limit: z.number().int().nonnegative().default(3).describe('Keep the newest N checkpoints (plus the best); 0 keeps all.'),
  early_stopping_patience: z.number().int().nonnegative().default(0).describe('Stop after N evaluations without a better validation loss (0: never).'),
  max_grad_norm: z.number().nonnegative().default(1).describe('Clip the global gradient norm to this (0: no clipping), as the HF Trainer does.'),
  weight_decay: z.number().nonnegative().default(0).describe('AdamW weight decay on the LoRA weights.'),
  use_rslora: z.boolean().default(false).describe('rsLoRA: scale by alpha / √r, steadier at high ranks.'),
  on_bad_rows: z.enum(['skip', 'stop']).default('skip').describe('What to do with invalid data rows: skip them (listed in the report) or stop.'),
});

export type FinetuneConfig = z.infer<typeof finetuneConfigSchema>;
export type FinetuneConfigInput = z.input<typeof finetuneConfigSchema>;

/** Validate a config (CLI flags merged over a config file, or the wizard's form). Errors name each field. */
export function parseFinetuneConfig(input: unknown, where = 'finetune config'): FinetuneConfig {
  const r = finetuneConfigSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new FormatError(`invalid settings: ${lines.join('; ')}`, where, 'config/finetune');
  }
  const c = r.data;
  if (c.batch_size % c.micro_batch_size !== 0) {
    throw new FormatError(
      `batch_size (${c.batch_size}) must be a multiple of micro_batch_size (${c.micro_batch_size})`,
      where,
      'config/finetune',
    );
  }
  return c;
}

/** Read a JSON config file (the --config flag); its keys are the schema's field names. */
export function readConfigFile(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FormatError(`cannot read config file (${(e as Error).message})`, file, 'config/file');
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new FormatError('config file must hold a JSON object', file, 'config/file');
  const known = new Set(Object.keys(finetuneConfigSchema.shape));
  const unknown = Object.keys(json).filter((k) => !known.has(k));
  if (unknown.length) throw new FormatError(`unknown settings: ${unknown.join(', ')}`, file, 'config/file');
  return json as Record<string, unknown>;
}

/** Field name, JSON type, default and help of every setting (for the CLI's flags and the wizard's form). */
export function settingFields(): { name: string; type: string; default: unknown; help: string; choices?: string[] }[] {
  const json = z.toJSONSchema(finetuneConfigSchema, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, { type?: string; default?: unknown; description?: string; enum?: string[]; anyOf?: unknown[]; items?: { enum?: string[] } }>;
  };
  return Object.entries(json.properties).map(([name, p]) => ({
    name,
    type: p.type ?? 'string',
    default: p.default,
    help: p.description ?? '',
    choices: p.enum ?? p.items?.enum,
  }));
}
