import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openCheckpoint } from '../formats/hf-checkpoint.ts';
import { adapterFolder, readPeftAdapter } from '../formats/peft-adapter.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import { checkpointBaseDtype } from '../llama/base-dtype.ts';
import { loadLlamaConfig, type LlamaConfig } from '../llama/config.ts';
import { MergedSource } from './merged-source.ts';

export interface ExportInput {
  baseDir: string;
  config: LlamaConfig;
  /** The base model's tensors, with the adapter merged in when one is given. */
  source: TensorSource;
  warnings: string[];
  /** Which base the export reads (always the checkpoint on disk, at its own precision) and what the adapter was trained against. */
  base: BaseProvenance;
}

export interface BaseProvenance {
  base_model: string;
  /** The checkpoint's own precision: the export merges into these weights, never a quantized copy. */
  checkpoint_dtype: 'f32' | 'bf16' | 'f16';
  adapter?: string;
  /** The base_dtype the adapter was trained against, from its run's config.json (when the adapter is in a run folder). */
  trained_against?: string;
}

/** base_dtype_used from the run folder's config.json above an adapter (run/adapter or run/checkpoints/step-N). */
function trainedAgainst(adapterDir: string): string | undefined {
  for (const runDir of [path.dirname(adapterDir), path.dirname(path.dirname(adapterDir))]) {
    try {
      const config = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as Record<string, unknown>;
      // Runs from before base_dtype held the base in f32, or in f16 on WebGPU (frozen_dtype).
      const mode = config.base_dtype_used ?? config.frozen_dtype;
      if (typeof config.base_model === 'string') return typeof mode === 'string' && mode !== 'auto' ? mode : 'f32';
    } catch {
      // no run folder there
    }
  }
  return undefined;
}

/** A short sentence for export summaries: which base was merged into, and what the adapter was trained against. */
export function describeProvenance(b: BaseProvenance): string {
  if (!b.adapter) return `from ${b.base_model} (${b.checkpoint_dtype})`;
  return `into the full-precision base ${b.base_model} (${b.checkpoint_dtype})${b.trained_against ? `; the adapter was trained against an ${b.trained_against} base` : ''}`;
}

/**
 * The weights an export reads: a model folder alone, or base + PEFT adapter merged tensor by tensor. The adapter is
 * checked against the base before any work (names, ranks, shapes, missing modules).
 * A run folder is accepted for the adapter too (its adapter/ subfolder is used).
 */
export async function openExportInput(baseDir: string, loraWeights?: string): Promise<ExportInput> {
  const config = loadLlamaConfig(baseDir);
  const base = await openCheckpoint(baseDir);
  const provenance: BaseProvenance = { base_model: path.resolve(baseDir), checkpoint_dtype: checkpointBaseDtype(base, baseDir) };
  if (!loraWeights) return { baseDir, config, source: base, warnings: [], base: provenance };
  try {
    const adapterDir = adapterFolder(loraWeights);
    const adapter = await readPeftAdapter(adapterDir, config);
    const withAdapter = { ...provenance, adapter: path.resolve(adapterDir), trained_against: trainedAgainst(path.resolve(adapterDir)) };
    return { baseDir, config, source: new MergedSource(base, adapter), warnings: adapter.warnings, base: withAdapter };
  } catch (e) {
    await base.close();
    throw e;
  }
}
