import path from 'node:path';
import { openCheckpoint } from '../main/engine/formats/hf-checkpoint.ts';
import { exportLlamaGguf } from '../main/engine/export/gguf-llama.ts';
import { generate } from '../main/engine/generate/generate.ts';
import { loadModel } from '../main/engine/model/load.ts';
import { loadLlamaCpp } from '../main/engine/system/llama-cpp.ts';
import { parameterCount } from '../main/engine/llama/tensors.ts';
import { pairedRatios, spreadOf, type Spread } from './spread.ts';

export interface InferenceRow {
  model: string;
  params: number;
  promptTokens: number;
  decodeTokens: number;
  threads: number;
  /** Medians over the runs, tokens/s. */
  oursPrefill: number;
  llamaCppPrefill: number;
  oursDecode: number;
  llamaCppDecode: number;
  /** Per-run ratios ours / llama.cpp. */
  prefillRatio: Spread;
  decodeRatio: Spread;
}

/**
 * Prefill and decode tokens/s of our engine and llama.cpp on the same weights (our F32 GGUF export), llama.cpp given
 * the thread count ours runs with. The two sides alternate run by run, `repeats` times each.
 */
export async function benchInference(
  name: string,
  dir: string,
  workDir: string,
  threads: number,
  promptTokens: number,
  decodeTokens: number,
  repeats: number,
): Promise<InferenceRow> {
  const loaded = await loadModel(dir);
  const prompt = [1, ...Array.from({ length: promptTokens - 1 }, (_, i) => 3 + ((i * 37) % (loaded.config.vocabSize - 3)))];
  const gguf = path.join(workDir, `${name}.gguf`);
  const source = await openCheckpoint(dir);
  await exportLlamaGguf(source, loaded.config, dir, gguf, { fileType: 'f32' });
  await source.close();
  const lc = await loadLlamaCpp(gguf, { threads, contextSize: Math.max(512, promptTokens + decodeTokens + 8) });
  try {
    // Warm-up passes so both sides are measured after their one-time set-up.
    await generate(loaded.model, prompt.slice(0, 8), { maxNewTokens: 4, stopTokenIds: [] });
    await lc.timeGeneration(prompt.slice(0, 8), 4);
    const runs = { oursPrefill: [] as number[], oursDecode: [] as number[], lcPrefill: [] as number[], lcDecode: [] as number[] };
    for (let r = 0; r < repeats; r++) {
      const ours = await generate(loaded.model, prompt, { maxNewTokens: decodeTokens, stopTokenIds: [] });
      runs.oursPrefill.push(promptTokens / (ours.prefillMs / 1000));
      runs.oursDecode.push((ours.tokens.length - 1) / (ours.decodeMs / 1000));
      const theirs = await lc.timeGeneration(prompt, decodeTokens);
      runs.lcPrefill.push(promptTokens / (theirs.prefillMs / 1000));
      runs.lcDecode.push((theirs.tokens - 1) / (theirs.decodeMs / 1000));
    }
    return {
      model: name,
      params: parameterCount(loaded.config),
      promptTokens,
      decodeTokens,
      threads,
      oursPrefill: spreadOf(runs.oursPrefill).median,
      llamaCppPrefill: spreadOf(runs.lcPrefill).median,
      oursDecode: spreadOf(runs.oursDecode).median,
      llamaCppDecode: spreadOf(runs.lcDecode).median,
      prefillRatio: pairedRatios(runs.oursPrefill, runs.lcPrefill),
      decodeRatio: pairedRatios(runs.oursDecode, runs.lcDecode),
    };
  } finally {
    await lc.dispose();
  }
}
