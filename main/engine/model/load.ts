import { existsSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { openCheckpoint } from '../formats/hf-checkpoint.ts';
import { readPeftAdapter } from '../formats/peft-adapter.ts';
import { loadTokenizer, type StudioTokenizer } from '../tokenizer/tokenizer.ts';
import { loadLlamaConfig, type LlamaConfig } from './config.ts';
import { LlamaModel } from './llama.ts';
import type { LoraAdapter } from './lora.ts';
import { loraFromPeft } from './lora-load.ts';
import { loadLlamaWeights } from './weights.ts';

export interface LoadedModel {
  dir: string;
  config: LlamaConfig;
  model: LlamaModel;
  tokenizer: StudioTokenizer;
  adapter?: LoraAdapter;
  warnings: string[];
}

/** Load a HF model folder (config, weights, tokenizer) and optionally a PEFT LoRA adapter on top. */
export async function loadModel(dir: string, opts: { loraWeights?: string } = {}): Promise<LoadedModel> {
  if (!existsSync(dir)) throw new StudioError('model folder does not exist', dir, 'model/missing');
  const config = loadLlamaConfig(dir);
  const tokenizer = await loadTokenizer(dir);
  const source = await openCheckpoint(dir);
  let model: LlamaModel;
  try {
    model = new LlamaModel(config, await loadLlamaWeights(source, config, dir));
  } finally {
    await source.close();
  }
  const warnings: string[] = [];
  if (tokenizer.vocabSize > config.vocabSize) {
    warnings.push(`${path.join(dir, 'tokenizer.json')}: ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}`);
  }
  let adapter: LoraAdapter | undefined;
  if (opts.loraWeights) {
    const loaded = await readPeftAdapter(opts.loraWeights, config);
    warnings.push(...loaded.warnings);
    adapter = loraFromPeft(config, loaded);
  }
  return { dir, config, model, tokenizer, adapter, warnings };
}
