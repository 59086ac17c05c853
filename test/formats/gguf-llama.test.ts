import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { exportLlamaGguf } from '../../main/engine/export/gguf-llama.ts';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { writeSafetensors } from '../../main/engine/formats/safetensors.ts';
import type { TensorSource } from '../../main/engine/formats/tensor-source.ts';
import { loadLlamaConfig, parseLlamaConfig } from '../../main/engine/llama/config.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { loadLlamaCpp } from '../../main/engine/system/llama-cpp.ts';
import { tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

// A model of stories260K's shape written by the test (main/engine/synthetic/synthetic-model.ts): no trained weights needed here.
const MODEL_DIR = await tinyModel();
const work = workFolder('gguf-llama');

/** A view of a source without some tensors. */
function without(source: TensorSource, ...names: string[]): TensorSource {
  return {
    ...source,
    list: () => source.list().filter((t) => !names.includes(t.name)),
    has: (n) => !names.includes(n) && source.has(n),
    info: (n) => source.info(n),
    readF32: (n) => source.readF32(n),
    readRaw: (n) => source.readRaw(n),
    close: () => source.close(),
  };
}

describe('exportLlamaGguf checks its input', () => {
  const out = path.join(work, 'refused.gguf');
  it('refuses a checkpoint missing a tensor llama.cpp needs', async () => {
    const source = await openCheckpoint(MODEL_DIR);
    const config = await loadLlamaConfig(MODEL_DIR);
    await expect(
      exportLlamaGguf(without(source, 'model.layers.4.mlp.up_proj.weight'), config, MODEL_DIR, out, { fileType: 'f16' }),
    ).rejects.toThrow(/missing tensor model\.layers\.4\.mlp\.up_proj\.weight \(expected shape \[172, 64\]\)/);
    await source.close();
  });
  it('refuses a config.json that does not fit the tensors (wrong KV heads), and a non-LLaMA architecture', async () => {
    const raw = JSON.parse(readFileSync(path.join(MODEL_DIR, 'config.json'), 'utf8'));
    const source = await openCheckpoint(MODEL_DIR);
    await expect(
      exportLlamaGguf(source, parseLlamaConfig({ ...raw, num_key_value_heads: 8 }), MODEL_DIR, out, { fileType: 'f32' }),
    ).rejects.toThrow(/k_proj\.weight has shape \[32, 64\] but config\.json implies \[64, 64\]/);
    await expect(
      exportLlamaGguf(source, parseLlamaConfig({ ...raw, model_type: 'gpt_neox' }), MODEL_DIR, out, { fileType: 'f32' }),
    ).rejects.toThrow(/LLaMA and Mistral/);
    await source.close();
  });
});

describe('untied output head', () => {
  it('an lm_head of its own is written as output.weight, and llama.cpp uses it as our engine does', async () => {
    // The tiny model with tie_word_embeddings false and lm_head = 0.7 × embeddings: logits change, so llama.cpp must read output.weight.
    const dir = path.join(work, 'untied');
    mkdirSync(dir);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) symlinkSync(path.join(MODEL_DIR, f), path.join(dir, f));
    const raw = JSON.parse(readFileSync(path.join(MODEL_DIR, 'config.json'), 'utf8'));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...raw, tie_word_embeddings: false }));
    const base = await openCheckpoint(MODEL_DIR);
    const embed = await base.readF32('model.embed_tokens.weight');
    const head = embed.map((v) => v * 0.7);
    await writeSafetensors(path.join(dir, 'model.safetensors'), [
      ...base.list().map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => base.readRaw(t.name) })),
      { name: 'lm_head.weight', dtype: 'F32' as const, shape: [512, 64], data: new Uint8Array(head.buffer) },
    ]);
    await base.close();

    await initBackend('wasm');
    const ours = await loadModel(dir);
    const source = await openCheckpoint(dir);
    const file = path.join(work, 'untied.gguf');
    const report = await exportLlamaGguf(source, ours.config, dir, file, { fileType: 'f32' });
    await source.close();
    expect(report.tensors.length).toBe(48);
    expect(Array.from(await (await readGguf(file)).readF32('output.weight'))).toEqual(Array.from(head));

    const llamaCpp = await loadLlamaCpp(file, { threads: 1, f32Cache: true });
    try {
      const prompt = [1, 403, 407, 261, 378];
      const theirs = await llamaCpp.logProbabilities(prompt);
      const logits = ours.model.forward(tf.tensor2d([prompt], [1, prompt.length], 'int32'));
      const mine = (tf.logSoftmax(logits).arraySync() as number[][][])[0];
      logits.dispose();
      let worst = 0;
      prompt.forEach((_, i) => mine[i].forEach((v, id) => (worst = Math.max(worst, Math.abs(v - theirs[i][id])))));
      expect(worst).toBeLessThan(1e-4);
      // ...and the head matters: the tied model's log-probabilities are far from these.
      const tied = await loadModel(MODEL_DIR);
      const tiedLogits = tied.model.forward(tf.tensor2d([prompt], [1, prompt.length], 'int32'));
      const tiedLogProbs = (tf.logSoftmax(tiedLogits).arraySync() as number[][][])[0];
      tiedLogits.dispose();
      expect(Math.max(...tiedLogProbs[4].map((v, id) => Math.abs(v - theirs[4][id])))).toBeGreaterThan(0.1);
      // The timing helpers the benchmark uses run and count what they did.
      expect((await llamaCpp.timePrefill(prompt)).tokens).toBe(5);
      const t = await llamaCpp.timeGeneration(prompt, 6);
      expect(t.tokens).toBe(6);
      expect(t.prefillMs).toBeGreaterThan(0);
    } finally {
      await llamaCpp.dispose();
    }
  });
});
