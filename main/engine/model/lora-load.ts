import type { LoadedAdapter } from '../formats/peft-adapter.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { LoraAdapter } from './lora.ts';

/** A LoraAdapter holding the weights of a PEFT adapter read (and checked) by readPeftAdapter. */
export function loraFromPeft(base: LlamaConfig, loaded: LoadedAdapter): LoraAdapter {
  const c = loaded.config;
  return new LoraAdapter(
    base,
    { r: c.r, alpha: c.lora_alpha, dropout: c.lora_dropout, targetModules: loaded.targetModules, useRslora: c.use_rslora },
    (layer, name) => {
      const m = loaded.modules.get(`${layer}.${name}`)!; // readPeftAdapter guarantees every (layer, target) exists
      return { a: m.a, b: m.b };
    },
  );
}
