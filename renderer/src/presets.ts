import { GROUPS } from './wizard/settings-groups.ts';

/**
 * The training step's presets: settings (the engine config schema's field names) laid over the schema defaults of
 * every setting the groups hold (PRESET_FIELDS); the Data step's template and masking are left as they are.
 * "Alpaca-LoRA defaults" is the schema's defaults themselves (Alpaca-LoRA's finetune.py values).
 */
export const PRESET_NAMES = ['alpaca', 'quick', 'lowmem', 'int8', 'nf4'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** The settings a preset sets: its own values, and every other grouped setting back at its default. */
export const PRESET_FIELDS: readonly string[] = Object.values(GROUPS).flat();

export const PRESETS: Record<PresetName, Record<string, unknown>> = {
  alpaca: {},
  // A handful of steps to see that everything works end to end, in a minute on a small model.
  quick: {
    batch_size: 8,
    micro_batch_size: 4,
    num_epochs: 1,
    max_steps: 10,
    cutoff_len: 128,
    val_set_size: 8,
    warmup_steps: 2,
    logging_steps: 1,
    eval_steps: 5,
    save_steps: 5,
  },
  // Smaller micro-batches, shorter sequences and a smaller rank: less activation and adapter memory.
  lowmem: { batch_size: 32, micro_batch_size: 1, cutoff_len: 128, lora_r: 4, lora_alpha: 8, lora_target_modules: ['q_proj', 'v_proj'] },
  // Alpaca-LoRA's finetune.py as published: its defaults over a base loaded with load_in_8bit=True.
  int8: { base_dtype: 'int8' },
  // QLoRA (Dettmers et al., 2023): an NF4 base, LoRA on every linear layer, r 64, alpha 16, dropout 0.1, lr 2e-4.
  nf4: {
    base_dtype: 'nf4',
    lora_r: 64,
    lora_alpha: 16,
    lora_dropout: 0.1,
    learning_rate: 2e-4,
    lora_target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  },
};
