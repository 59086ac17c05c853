import path from 'node:path';
import { openCheckpoint } from '../main/engine/formats/hf-checkpoint.ts';
import { exportLlamaGguf } from '../main/engine/formats/gguf-llama.ts';
import { generate } from '../main/engine/generate/generate.ts';
import { loadModel } from '../main/engine/model/load.ts';
import { loadLlamaCpp } from '../main/engine/system/llama-cpp.ts';
import { parameterCount } from '../main/engine/model/weights.ts';

export interface InferenceRow {
  model: string;
  params: number;
  promptTokens: number;
  decodeTokens: number;
  oursPrefill: number;
  llamaCppPrefill: number;
  oursDecode: number;
  llamaCppDecode: number;
}

/** Prefill and decode tokens/s of our engine and llama.cpp on the same weights (our F32 GGUF export), same threads. */
export async function benchInference(name: string, dir: string, workDir: string, threads: number, promptTokens: number, decodeTokens: number): Promise<InferenceRow> {
  const loaded = await loadModel(dir);
  const prompt = [1, ...Array.from({ length: promptTokens - 1 }, (_, i) => 3 + ((i * 37) % (loaded.config.vocabSize - 3)))];
  // Warm-up pass so both sides are measured after their one-time set-up.
  await generate(loaded.model, prompt.slice(0, 8), { maxNewTokens: 4, stopTokenIds: [] });
  const ours = await generate(loaded.model, prompt, { maxNewTokens: decodeTokens, stopTokenIds: [] });

  const gguf = path.join(workDir, `${name}.gguf`);
  const source = await openCheckpoint(dir);
  await exportLlamaGguf(source, loaded.config, dir, gguf, { fileType: 'f32' });
  await source.close();
  const lc = await loadLlamaCpp(gguf, { threads, contextSize: Math.max(512, promptTokens + decodeTokens + 8) });
  await lc.timeGeneration(prompt.slice(0, 8), 4);
  const theirs = await lc.timeGeneration(prompt, decodeTokens);
  await lc.dispose();
  return {
    model: name,
    params: parameterCount(loaded.config),
    promptTokens,
    decodeTokens,
    oursPrefill: promptTokens / (ours.prefillMs / 1000),
    llamaCppPrefill: promptTokens / (theirs.prefillMs / 1000),
    oursDecode: (ours.tokens.length - 1) / (ours.decodeMs / 1000),
    llamaCppDecode: (theirs.tokens - 1) / (theirs.decodeMs / 1000),
  };
}
