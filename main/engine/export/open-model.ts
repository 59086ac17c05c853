import { openCheckpoint } from '../formats/hf-checkpoint.ts';
import { adapterFolder, readPeftAdapter } from '../formats/peft-adapter.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import { loadLlamaConfig, type LlamaConfig } from '../model/config.ts';
import { MergedSource } from './merged-source.ts';

export interface ExportInput {
  baseDir: string;
  config: LlamaConfig;
  /** The base model's tensors, with the adapter merged in when one is given. */
  source: TensorSource;
  warnings: string[];
}

/**
 * The weights an export reads: a model folder alone, or base + PEFT adapter merged tensor by tensor. The adapter is
 * checked against the base before any work (names, ranks, shapes, missing modules).
 * A run folder is accepted for the adapter too (its adapter/ subfolder is used).
 */
export async function openExportInput(baseDir: string, loraWeights?: string): Promise<ExportInput> {
  const config = loadLlamaConfig(baseDir);
  if (!loraWeights) return { baseDir, config, source: await openCheckpoint(baseDir), warnings: [] };
  const adapterDir = adapterFolder(loraWeights);
  const adapter = await readPeftAdapter(adapterDir, config);
  const base = await openCheckpoint(baseDir);
  return { baseDir, config, source: new MergedSource(base, adapter), warnings: adapter.warnings };
}
