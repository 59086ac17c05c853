import { existsSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { openCheckpoint } from '../formats/hf-checkpoint.ts';
import { adapterFolder, readPeftAdapter } from '../formats/peft-adapter.ts';
import { loadTokenizer, type StudioTokenizer } from '../tokenizer/tokenizer.ts';
import { loadLlamaConfig, type LlamaConfig } from '../llama/config.ts';
import { LlamaModel } from './llama.ts';
import type { LoraAdapter } from './lora.ts';
import { loraFromPeft } from './lora-load.ts';
import { backendInfo } from '../backend/index.ts';
import { loadLlamaWeights } from './weights.ts';
import { autoCandidates, checkpointBaseDtype } from '../llama/base-dtype.ts';
import { type BaseDtypeChoice } from '../llama/base-dtype-names.ts';
import type { BaseDtype } from '../llama/base-dtype-names.ts';
import type { FrozenPlacement } from '../llama/frozen-placement.ts';
import { chooseBaseDtype, type Workload } from '../system/memory-estimate.ts';

export interface LoadedModel {
  dir: string;
  config: LlamaConfig;
  model: LlamaModel;
  tokenizer: StudioTokenizer;
  adapter?: LoraAdapter;
  /** The frozen base's storage mode (base_dtype resolved) and where its matrices live. */
  baseDtype: BaseDtype;
  placement: FrozenPlacement;
  /** Why this mode, with the estimate's figures (printed at start). */
  baseDtypeWhy: string;
  warnings: string[];
}

/** What generation asks of memory: one sequence, no LoRA training state. */
const GENERATION_WORKLOAD: Workload = { microBatchSize: 1, cutoffLen: 256, loraR: 1, targetModules: [] };

/**
 * Load a HF model folder (config, weights, tokenizer) and optionally a PEFT LoRA adapter on top. The base is held
 * in `baseDtype` (auto: the checkpoint as stored when it fits the workload, else int8, else nf4); a mode the backend
 * cannot run, a checkpoint dtype that cannot be read, or a model that cannot fit is refused before any weight is read.
 */
export async function loadModel(
  dir: string,
  opts: { loraWeights?: string; baseDtype?: BaseDtypeChoice; workload?: Workload; placement?: FrozenPlacement } = {},
): Promise<LoadedModel> {
  if (!existsSync(dir)) throw new StudioError('model folder does not exist', dir, 'model/missing');
  const config = loadLlamaConfig(dir);
  const tokenizer = await loadTokenizer(dir);
  const source = await openCheckpoint(dir);
  const backendName = backendInfo()?.name ?? 'cpu';
  let model: LlamaModel;
  let decision;
  let placement: FrozenPlacement;
  try {
    const native = checkpointBaseDtype(source, dir);
    const wanted = opts.baseDtype ?? 'auto';
    decision = chooseBaseDtype(
      config,
      wanted,
      { native, backendName, candidates: autoCandidates(native) },
      opts.workload ?? GENERATION_WORKLOAD,
      dir,
    );
    placement = opts.placement ?? decision.estimate.placement;
    model = new LlamaModel(config, await loadLlamaWeights(source, config, dir, { mode: decision.mode, native, backendName, placement }));
  } finally {
    await source.close();
  }
  const warnings: string[] = decision.warning ? [decision.warning] : [];
  if (tokenizer.vocabSize > config.vocabSize) {
    warnings.push(`${path.join(dir, 'tokenizer.json')}: ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}`);
  }
  let adapter: LoraAdapter | undefined;
  if (opts.loraWeights) {
    const loaded = await readPeftAdapter(adapterFolder(opts.loraWeights), config); // a run folder works too
    warnings.push(...loaded.warnings);
    adapter = loraFromPeft(config, loaded);
  }
  return { dir, config, model, tokenizer, adapter, baseDtype: decision.mode, placement, baseDtypeWhy: decision.why, warnings };
}
