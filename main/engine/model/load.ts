import { existsSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { openCheckpoint } from '../formats/hf-checkpoint.ts';
import { adapterFolder, readPeftAdapter } from '../formats/peft-adapter.ts';
import { loadTokenizer, type StudioTokenizer } from '../tokenizer/tokenizer.ts';
import { loadLlamaConfig, type LlamaConfig } from './config.ts';
import { LlamaModel } from './llama.ts';
import type { LoraAdapter } from './lora.ts';
import { loraFromPeft } from './lora-load.ts';
import { backendInfo } from '../backend/index.ts';
import { loadLlamaWeights, projectionPath, type FrozenStorage } from './weights.ts';

export interface LoadedModel {
  dir: string;
  config: LlamaConfig;
  model: LlamaModel;
  tokenizer: StudioTokenizer;
  adapter?: LoraAdapter;
  /** How the frozen matrices are held (f16: packed halves on the WebGPU device). */
  frozenStorage: FrozenStorage;
  warnings: string[];
}

/** auto: 16-bit on WebGPU when the checkpoint is 16-bit already (nothing is lost), else f32. */
export type FrozenDtype = 'auto' | FrozenStorage;

/** Load a HF model folder (config, weights, tokenizer) and optionally a PEFT LoRA adapter on top. */
export async function loadModel(dir: string, opts: { loraWeights?: string; frozenDtype?: FrozenDtype } = {}): Promise<LoadedModel> {
  if (!existsSync(dir)) throw new StudioError('model folder does not exist', dir, 'model/missing');
  const config = loadLlamaConfig(dir);
  const tokenizer = await loadTokenizer(dir);
  const source = await openCheckpoint(dir);
  let model: LlamaModel;
  let frozenStorage: FrozenStorage;
  try {
    const probe = `${projectionPath(0, 'q_proj')}.weight`;
    frozenStorage = chooseFrozenStorage(opts.frozenDtype ?? 'auto', source.has(probe) ? source.info(probe).dtype : 'F32');
    model = new LlamaModel(config, await loadLlamaWeights(source, config, dir, frozenStorage));
  } finally {
    await source.close();
  }
  const warnings: string[] = [];
  if (tokenizer.vocabSize > config.vocabSize) {
    warnings.push(`${path.join(dir, 'tokenizer.json')}: ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}`);
  }
  let adapter: LoraAdapter | undefined;
  if (opts.loraWeights) {
    const loaded = await readPeftAdapter(adapterFolder(opts.loraWeights), config); // a run folder works too
    warnings.push(...loaded.warnings);
    adapter = loraFromPeft(config, loaded);
  }
  return { dir, config, model, tokenizer, adapter, frozenStorage, warnings };
}

function chooseFrozenStorage(wanted: FrozenDtype, checkpointDtype: string): FrozenStorage {
  const webgpu = backendInfo()?.name === 'webgpu';
  if (wanted === 'f16' && !webgpu) throw new StudioError('16-bit frozen weights (frozen_dtype f16) need the WebGPU backend', undefined, 'model/frozen-dtype');
  if (wanted === 'auto') return webgpu && (checkpointDtype === 'F16' || checkpointDtype === 'BF16') ? 'f16' : 'f32';
  return wanted;
}
