import { z } from 'zod';

/** The export commands' settings, named as their CLI flags; tfjs-free so the job host can check them up front. */
const EXPORT_DTYPES = ['f32', 'f16', 'bf16'] as const;
const QUANTIZE_FORMATS = ['gguf-q8_0', 'gguf-f16', 'gguf-f32', 'int8'] as const;

const folder = z.string().min(1);
export const mergeSettingsSchema = z
  .object({
    base_model: folder,
    lora_weights: folder,
    output_dir: folder,
    max_shard_size: z.union([z.string(), z.number()]).default('2GB'),
    dtype: z.enum(EXPORT_DTYPES).default('f16'),
  })
  .strict();
export const stateDictSettingsSchema = z
  .object({ base_model: folder, lora_weights: folder.optional(), output_dir: folder, dtype: z.enum(EXPORT_DTYPES).default('f16') })
  .strict();
export const quantizeSettingsSchema = z
  .object({
    model: folder.optional(),
    base_model: folder.optional(),
    lora_weights: folder.optional(),
    format: z.enum(QUANTIZE_FORMATS).default('gguf-q8_0'),
    output: folder,
    prompt_template: z.string().min(1).default('alpaca'),
  })
  .strict()
  .refine((o) => Boolean(o.model ?? o.base_model), 'quantize needs model, or base_model with lora_weights')
  .refine((o) => !(o.model && o.lora_weights), 'lora_weights goes with base_model, not model');

export type MergeSettings = z.input<typeof mergeSettingsSchema>;
export type StateDictSettings = z.input<typeof stateDictSettingsSchema>;
export type QuantizeSettings = z.input<typeof quantizeSettingsSchema>;
