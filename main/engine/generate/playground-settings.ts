import { z } from 'zod';
import { BASE_DTYPE_CHOICES } from '../llama/base-dtype-names.ts';

/** The playground's request (no tfjs here: the job host validates it before a worker starts); names and defaults are the `generate` command's (Alpaca-LoRA's generate.py). */
export const playgroundSettingsSchema = z
  .object({
    base_model: z.string().min(1),
    lora_weights: z.string().min(1).optional(),
    instruction: z.string(),
    input: z.string().default(''),
    prompt_template: z.string().min(1).default('alpaca'),
    max_new_tokens: z.number().int().positive().max(4096).default(128),
    temperature: z.number().min(0).default(0.1),
    top_p: z.number().gt(0).max(1).default(0.75),
    top_k: z.number().int().min(0).default(40),
    repetition_penalty: z.number().positive().default(1),
    seed: z.number().int().min(0).default(42),
    /** How the frozen base is held, as in finetune (auto: the checkpoint as stored when it fits, else int8, else nf4). */
    base_dtype: z.enum(BASE_DTYPE_CHOICES).default('auto'),
  })
  .strict();
export type PlaygroundSettings = z.input<typeof playgroundSettingsSchema>;
