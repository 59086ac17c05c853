import { z } from 'zod';
import { BACKEND_CHOICES } from '../backend/choices.ts';
import { FormatError } from '../errors.ts';
import { schemaFields, type SettingField } from '../parse-settings.ts';
import { BUILTIN_TEMPLATE_NAMES } from '../data/template-names.ts';
import { BASE_DTYPE_CHOICES } from '../llama/base-dtype-names.ts';
import { projectionNameSchema } from '../llama/projection-names.ts';

/**
 * The one schema for a fine-tuning run. Alpaca-LoRA's finetune.py flags keep their names and defaults; ours follow.
 * It feeds the CLI flags, the studio's wizard form (via z.toJSONSchema: type, default and help of each field),
 * the run's saved config.json and validation. No Node imports: the API contract and the renderer use it too.
 */
export const finetuneConfigSchema = z.object({
  base_model: z.string().min(1).describe('Base model folder in Hugging Face layout (config.json, *.safetensors, tokenizer.json).'),
  data_path: z.string().min(1).describe('Alpaca-style data: a JSON array or JSON lines of {instruction, input?, output}.'),
  output_dir: z.string().default('./lora-alpaca').describe('Run folder: config, metrics.jsonl, checkpoints/ and the final adapter/.'),
  batch_size: z
    .number()
    .int()
    .positive()
    .default(128)
    .describe('Examples per optimizer step (gradient accumulation = batch_size / micro_batch_size).'),
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
    .describe(
      "Alpaca-LoRA's flag: every example ends in EOS when it fits (its code always adds it); with the flag the prompt mask counts the prompt's own EOS.",
    ),
  group_by_length: z.boolean().default(false).describe('Batch examples of similar length together: faster, but a less smooth loss curve.'),
  resume_from_checkpoint: z
    .union([z.string(), z.boolean()])
    .nullable()
    .default(null)
    .describe('A checkpoint folder to continue from, or true for the newest good checkpoint in output_dir.'),
  overwrite: z
    .boolean()
    .default(false)
    .describe(
      'Start over in an output_dir that holds a run: its config, metrics, checkpoints and adapter are deleted first (other files stay).',
    ),
  prompt_template_name: z
    .string()
    .default('alpaca')
    .describe(`${BUILTIN_TEMPLATE_NAMES.join(', ')}, or a template JSON file.`),
  // Ours, beyond Alpaca-LoRA:
  backend: z
    .enum(BACKEND_CHOICES)
    .default('auto')
    .describe(
      'tfjs backend: auto picks the fastest that loads (tfjs-node-gpu, WebGPU on a hardware adapter, tfjs-node, wasm, cpu); webgpu-software is the slow SwiftShader adapter, for tests.',
    ),
  threads: z.number().int().positive().optional().describe('Threads for the wasm backend (default: all cores).'),
  base_dtype: z
    .enum(BASE_DTYPE_CHOICES)
    .default('auto')
    .describe(
      "How the frozen base is held: f32, bf16 or f16 (2 bytes a weight), int8 (blockwise absmax, ~1 byte, as Alpaca-LoRA's load_in_8bit) or nf4 (QLoRA's 4-bit, ~0.5 byte). LoRA, gradients and optimizer stay f32; norms f32, embeddings and lm_head 16-bit. auto keeps the checkpoint as stored when it fits, else int8, else nf4.",
    ),
  gradient_checkpointing: z
    .boolean()
    .optional()
    .describe(
      "Recompute each layer in the backward pass instead of keeping its activations: a step takes ~1/3 longer, and holds one layer's activations instead of every layer's. Default: on for an int8/nf4 base (as PEFT's prepare_model_for_kbit_training) and for a large base held in JS memory, else off.",
    ),
  load_in_8bit: z.boolean().optional().describe('Python spelling of base_dtype int8 (as transformers/bitsandbytes say it).'),
  load_in_4bit: z.boolean().optional().describe('Python spelling of base_dtype nf4 (QLoRA: bnb_4bit_quant_type nf4).'),
  frozen_dtype: z.enum(['auto', 'f32', 'f16']).optional().describe('Deprecated: the old name of base_dtype (still accepted).'),
  seed: z.number().int().nonnegative().default(42).describe('Seed for LoRA init, data order and dropout: same seed, same run.'),
  max_steps: z.number().int().nonnegative().default(0).describe('Stop after this many optimizer steps (0: run all epochs).'),
  warmup_steps: z.number().int().nonnegative().default(100).describe('Steps of linear warmup before linear decay to 0.'),
  logging_steps: z.number().int().positive().default(10).describe('Report loss, learning rate and speed every N steps.'),
  eval_steps: z.number().int().nonnegative().default(200).describe('Evaluate on the validation split every N steps (0: only at the end).'),
  save_steps: z.number().int().nonnegative().default(200).describe('Write a checkpoint every N steps (0: only the best and the last).'),
  save_total_limit: z.number().int().nonnegative().default(3).describe('Keep the newest N checkpoints (plus the best); 0 keeps all.'),
  early_stopping_patience: z
    .number()
    .int()
    .nonnegative()
    .default(0)
    .describe('Stop after N evaluations without a better validation loss (0: never).'),
  max_grad_norm: z
    .number()
    .nonnegative()
    .default(1)
    .describe('Clip the global gradient norm to this (0: no clipping), as the HF Trainer does.'),
  weight_decay: z.number().nonnegative().default(0).describe('AdamW weight decay on the LoRA weights.'),
  use_rslora: z.boolean().default(false).describe('rsLoRA: scale by alpha / √r, steadier at high ranks.'),
  on_bad_rows: z
    .enum(['skip', 'stop'])
    .default('skip')
    .describe('What to do with invalid data rows: skip them (listed in the report) or stop.'),
});

export type FinetuneConfig = z.infer<typeof finetuneConfigSchema>;
export type FinetuneConfigInput = z.input<typeof finetuneConfigSchema>;

/** The settings the cross-field rules read. */
type ConsistencyInput = Pick<
  FinetuneConfig,
  'batch_size' | 'micro_batch_size' | 'base_dtype' | 'load_in_8bit' | 'load_in_4bit' | 'frozen_dtype'
>;

/** A rule across fields, broken: a zod issue with the numbers in `params` (the wizard translates it by `params.rule`). */
interface ConsistencyIssue {
  code: 'custom';
  path: string[];
  message: string;
  params: Record<string, string | number> & { rule: 'batch-multiple' | 'base-dtype-conflict' };
}

/** The storage modes the settings ask for, by the setting that asks (base_dtype auto asks nothing). */
function askedBaseDtypes(c: ConsistencyInput): [string, FinetuneConfig['base_dtype']][] {
  const asked: [string, FinetuneConfig['base_dtype']][] = [];
  if (c.base_dtype !== undefined && c.base_dtype !== 'auto') asked.push(['base_dtype', c.base_dtype]);
  if (c.load_in_8bit) asked.push(['load_in_8bit', 'int8']);
  if (c.load_in_4bit) asked.push(['load_in_4bit', 'nf4']);
  if (c.frozen_dtype !== undefined && asked.length === 0) asked.push(['frozen_dtype', c.frozen_dtype]);
  return asked;
}

/** The rules no single field can check: batch_size a multiple of micro_batch_size, one storage mode asked for. */
function finetuneConsistencyIssues(c: ConsistencyInput): ConsistencyIssue[] {
  const out: ConsistencyIssue[] = [];
  if (c.batch_size % c.micro_batch_size !== 0)
    out.push({
      code: 'custom',
      path: ['batch_size'],
      message: `batch_size (${c.batch_size}) must be a multiple of micro_batch_size (${c.micro_batch_size})`,
      params: { rule: 'batch-multiple', batch: c.batch_size, micro: c.micro_batch_size },
    });
  const asked = askedBaseDtypes(c);
  if (new Set(asked.map(([, m]) => m)).size > 1) {
    const names = asked.map(([k, m]) => `${k} (${m})`).join(', ');
    out.push({
      code: 'custom',
      path: ['base_dtype'],
      message: `conflicting settings: ${names}; give one of them`,
      params: { rule: 'base-dtype-conflict', settings: names },
    });
  }
  return out;
}

/** The cross-field rules as a zod refinement: the job's settings schema (and so the wizard, live) checks them too. */
export function finetuneConsistency(c: ConsistencyInput, ctx: z.RefinementCtx): void {
  for (const { code, path, message, params } of finetuneConsistencyIssues(c)) ctx.addIssue({ code, path, message, params });
}

/** Validate a config (CLI flags merged over a config file, or the wizard's form). Errors name each field. */
export function parseFinetuneConfig(input: unknown, where = 'finetune config'): FinetuneConfig {
  // Strict: a misspelt setting (lora_rr) is refused by name, never silently ignored.
  const r = finetuneConfigSchema.strict().safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new FormatError(`invalid settings: ${lines.join('; ')}`, where, 'config/finetune');
  }
  const c = r.data;
  const broken = finetuneConsistencyIssues(c);
  if (broken.length) throw new FormatError(broken.map((i) => i.message).join('; '), where, 'config/finetune');
  // base_dtype from its aliases: load_in_8bit → int8, load_in_4bit → nf4 (the Python spelling), frozen_dtype (deprecated).
  c.base_dtype = askedBaseDtypes(c)[0]?.[1] ?? c.base_dtype;
  return c;
}

/** The run's own settings out of a saved config.json (which also records the backend used): for a resume. */
export function settingsOfSavedConfig(saved: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(saved).filter(([k]) => k in finetuneConfigSchema.shape));
}

/** Field name, JSON type, default and help of every setting (for the CLI's flags and the wizard's form). */
export function settingFields(): SettingField[] {
  return schemaFields(finetuneConfigSchema);
}
