// The table of LLaMA tensor names (main/engine/llama/tensors.ts), and a model with attention biases (a LLaMA with
// attention_bias, as Qwen2-style models converted to LLaMA have) through the GGUF export: llama.cpp's `llama`
// architecture loads the four optional biases, and its log-probabilities must equal our engine's.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { exportLlamaGguf, permuteToRotateHalf } from '../../main/engine/export/gguf-llama.ts';
import { openExportInput } from '../../main/engine/export/open-model.ts';
import { exportStateDict } from '../../main/engine/export/state-dict.ts';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { writeSafetensors } from '../../main/engine/formats/safetensors.ts';
import { loadLlamaConfig } from '../../main/engine/llama/config.ts';
import { expectedTensors, tensorName } from '../../main/engine/llama/tensors.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { loadLlamaCpp } from '../../main/engine/system/llama-cpp.ts';
import { TINY_SHAPE, tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

describe('the table of LLaMA tensor names', () => {
  it.each([
    ['model.embed_tokens.weight', 'token_embd.weight', 'tok_embeddings.weight'],
    ['model.norm.weight', 'output_norm.weight', 'norm.weight'],
    ['lm_head.weight', 'output.weight', 'output.weight'],
    ['model.layers.0.input_layernorm.weight', 'blk.0.attn_norm.weight', 'layers.0.attention_norm.weight'],
    ['model.layers.3.post_attention_layernorm.weight', 'blk.3.ffn_norm.weight', 'layers.3.ffn_norm.weight'],
    ['model.layers.12.self_attn.q_proj.weight', 'blk.12.attn_q.weight', 'layers.12.attention.wq.weight'],
    ['model.layers.1.self_attn.k_proj.weight', 'blk.1.attn_k.weight', 'layers.1.attention.wk.weight'],
    ['model.layers.1.self_attn.v_proj.weight', 'blk.1.attn_v.weight', 'layers.1.attention.wv.weight'],
    ['model.layers.1.self_attn.o_proj.weight', 'blk.1.attn_output.weight', 'layers.1.attention.wo.weight'],
    ['model.layers.2.mlp.gate_proj.weight', 'blk.2.ffn_gate.weight', 'layers.2.feed_forward.w1.weight'],
    ['model.layers.2.mlp.up_proj.weight', 'blk.2.ffn_up.weight', 'layers.2.feed_forward.w3.weight'],
    ['model.layers.2.mlp.down_proj.weight', 'blk.2.ffn_down.weight', 'layers.2.feed_forward.w2.weight'],
  ])('%s → GGUF %s, Meta %s', (hf, gguf, meta) => {
    expect(tensorName(hf, 'gguf')).toBe(gguf);
    expect(tensorName(hf, 'meta')).toBe(meta);
    expect(tensorName(hf, 'hf')).toBe(hf);
  });
  it.each([
    ['q_proj', 'attn_q'],
    ['k_proj', 'attn_k'],
    ['v_proj', 'attn_v'],
    ['o_proj', 'attn_output'],
  ])("%s's bias is GGUF's %s.bias; Meta's layout has none", (p, gguf) => {
    expect(tensorName(`model.layers.7.self_attn.${p}.bias`, 'gguf')).toBe(`blk.7.${gguf}.bias`);
    expect(() => tensorName(`model.layers.7.self_attn.${p}.bias`, 'meta')).toThrow(/no Meta's state-dict name for tensor/);
  });
  it('refuses a tensor no LLaMA has, naming it', () => {
    expect(() => tensorName('model.layers.0.mlp.gate_proj.bias', 'gguf')).toThrow(
      /no GGUF name for tensor model\.layers\.0\.mlp\.gate_proj\.bias/,
    );
    expect(() => tensorName('transformer.h.0.attn.weight', 'meta')).toThrow(/no Meta's state-dict name/);
  });
  it('a config with attention_bias expects q/k/v/o biases of the projections’ output sizes', async () => {
    const config = await loadLlamaConfig(await tinyModel({ ...TINY_SHAPE, attention_bias: true }));
    const shapes = expectedTensors(config);
    expect(shapes.get('model.layers.0.self_attn.q_proj.bias')).toEqual([64]);
    expect(shapes.get('model.layers.0.self_attn.k_proj.bias')).toEqual([32]);
    expect(shapes.get('model.layers.0.self_attn.v_proj.bias')).toEqual([32]);
    expect(shapes.get('model.layers.4.self_attn.o_proj.bias')).toEqual([64]);
    expect([...shapes.keys()].filter((n) => n.endsWith('.bias'))).toHaveLength(4 * 5);
  });
});

describe('a LLaMA with attention biases', () => {
  const work = workFolder('attention-bias');
  let modelDir = '';
  beforeAll(async () => {
    modelDir = await tinyModel({ ...TINY_SHAPE, attention_bias: true });
    await initBackend('wasm');
  });
  const prompt = [1, 403, 407, 261, 378, 267, 379, 260];

  async function ourLogProbs(dir: string): Promise<number[][]> {
    const { model } = await loadModel(dir);
    const logits = model.forward(tf.tensor2d([prompt], [1, prompt.length], 'int32'));
    const out = (tf.logSoftmax(logits).arraySync() as number[][][])[0];
    logits.dispose();
    return out;
  }

  it('exports to GGUF with its biases (q/k permuted as their rows), and llama.cpp computes what our engine does', async () => {
    const file = path.join(work, 'biased.gguf');
    const source = await openCheckpoint(modelDir);
    const config = await loadLlamaConfig(modelDir);
    const report = await exportLlamaGguf(source, config, modelDir, file, { fileType: 'f32' });
    expect(
      report.tensors
        .filter((t) => t.name.endsWith('.bias'))
        .map((t) => t.name)
        .sort(),
    ).toEqual([0, 1, 2, 3, 4].flatMap((l) => ['attn_q', 'attn_k', 'attn_v', 'attn_output'].map((p) => `blk.${l}.${p}.bias`)).sort());
    const g = await readGguf(file);
    const hfQ = await source.readF32('model.layers.2.self_attn.q_proj.bias');
    const hfK = await source.readF32('model.layers.2.self_attn.k_proj.bias');
    // The q/k biases follow their rows into interleaved RoPE order (convert_hf_to_gguf.py permutes them too).
    const ggQ = await g.readF32('blk.2.attn_q.bias');
    expect(Array.from(permuteToRotateHalf(ggQ, 64, 1, 8))).toEqual(Array.from(hfQ));
    expect(Array.from(ggQ)).not.toEqual(Array.from(hfQ));
    expect(Array.from(permuteToRotateHalf(await g.readF32('blk.2.attn_k.bias'), 32, 1, 4))).toEqual(Array.from(hfK));
    expect(Array.from(await g.readF32('blk.2.attn_output.bias'))).toEqual(
      Array.from(await source.readF32('model.layers.2.self_attn.o_proj.bias')),
    );
    await source.close();

    const mine = await ourLogProbs(modelDir);
    const llamaCpp = await loadLlamaCpp(file, { threads: 1, f32Cache: true });
    let theirs: Float64Array[];
    try {
      theirs = await llamaCpp.logProbabilities(prompt);
    } finally {
      await llamaCpp.dispose();
    }
    let worst = 0;
    prompt.forEach((_, i) =>
      mine[i].forEach((v, id) => (theirs[i][id] > -60 ? (worst = Math.max(worst, Math.abs(v - theirs[i][id]))) : 0)),
    );
    expect(worst).toBeLessThan(1e-4);

    // ...and the biases matter: the same weights without them give other log-probabilities.
    const plain = path.join(work, 'no-bias');
    mkdirSync(plain);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) symlinkSync(path.join(modelDir, f), path.join(plain, f));
    const raw = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
    writeFileSync(path.join(plain, 'config.json'), JSON.stringify({ ...raw, attention_bias: false }));
    const base = await openCheckpoint(modelDir);
    await writeSafetensors(
      path.join(plain, 'model.safetensors'),
      base
        .list()
        .filter((t) => !t.name.endsWith('.bias'))
        .map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => base.readRaw(t.name) })),
    );
    await base.close();
    const unbiased = await ourLogProbs(plain);
    let biasEffect = 0;
    prompt.forEach((_, i) => unbiased[i].forEach((v, id) => (biasEffect = Math.max(biasEffect, Math.abs(v - theirs[i][id])))));
    expect(biasEffect).toBeGreaterThan(0.05);
  }, 120_000);

  it("the Meta state dict refuses it (Meta's layout has no biases), naming what to use instead", async () => {
    const input = await openExportInput(modelDir);
    try {
      await expect(
        exportStateDict({ source: input.source, config: input.config, outDir: path.join(work, 'meta'), dtype: 'f16' }),
      ).rejects.toMatchObject({
        code: 'export/meta-bias',
        message: expect.stringMatching(/no attention biases.*q_proj, k_proj, v_proj, o_proj.*merge.*quantize/),
      });
    } finally {
      await input.source.close();
    }
  });
});
