import type { LoadedAdapter } from '../formats/peft-adapter.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { LoraAdapter } from './lora.ts';

/**
 * A LoraAdapter holding the weights of a PEFT adapter read (and checked) by readPeftAdapter: each module with the rank
 * and scale its config gives it (rank_pattern, alpha_pattern), and only the modules it adapts (layers_to_transform).
 */
export function loraFromPeft(base: LlamaConfig, loaded: LoadedAdapter): LoraAdapter {
  const c = loaded.config;
  return new LoraAdapter(
    base,
    { r: c.r, alpha: c.lora_alpha, dropout: c.lora_dropout, targetModules: loaded.targetModules, useRslora: c.use_rslora },
    (layer, name) => loaded.modules.get(`${layer}.${name}`),
  );
}
