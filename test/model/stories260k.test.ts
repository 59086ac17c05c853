import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { Tokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { loadLlamaConfig } from '../../main/engine/llama/config.ts';
import { KVCache } from '../../main/engine/model/kv-cache.ts';
import { LlamaModel } from '../../main/engine/model/llama.ts';
import { generate } from '../../main/engine/generate/generate.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { loadLlamaWeights } from '../../main/engine/model/weights.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { tinyModel } from '../helpers/synthetic.ts';

const MODEL = 'models/stories260K';
const skip = missingShared(`${MODEL}/model.safetensors`, `${MODEL}/tokenizer.json`);

describe.skipIf(skip)('stories260K forward and greedy generation', () => {
  let model: LlamaModel;
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    await initBackend('wasm');
    const dir = sharedPath(MODEL);
    const config = await loadLlamaConfig(dir);
    const source = await openCheckpoint(dir);
    model = new LlamaModel(
      config,
      await loadLlamaWeights(source, config, dir, { mode: 'f32', native: 'f32', backendName: 'wasm', placement: 'device' }),
    );
    await source.close();
    tokenizer = new Tokenizer(
      JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')),
      JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')),
    );
  });

  it('greedy decoding from BOS gives the story llama2.c and llama.cpp give, for 80 tokens', async () => {
    const { tokens } = await generate(model, [1], { maxNewTokens: 80, stopTokenIds: [2] });
    expect(tokens.length).toBe(80);
    const text = tokenizer.decode(tokens);
    expect(text.startsWith('Once upon a time, there was a little girl named Lily. She loved to play outside in the park.')).toBe(true);
    // The same ids as tokenizing the reference text (token for token).
    const reference = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';
    const refIds = tokenizer.encode(reference).ids.slice(1); // without BOS
    expect(tokens.slice(0, refIds.length)).toEqual(refIds);
  });
});

// The cache, the decoding loop and the dtype guard need no trained weights: a model of the same shape written by the test.
describe('a tiny LLaMA: KV cache, greedy decoding and frozen dtype', () => {
  let dir: string;
  let model: LlamaModel;
  beforeAll(async () => {
    await initBackend('wasm');
    dir = await tinyModel();
    model = (await loadModel(dir)).model;
  });

  it('the KV cache gives the same logits as a full forward pass', () => {
    const ids = [1, 403, 407, 261, 378, 267, 379, 1209 % 512, 31, 42];
    const full = model.forward(tf.tensor2d([ids], [1, ids.length], 'int32'));
    const fullLast = full.slice([0, ids.length - 1, 0], [1, 1, -1]);
    const cache = new KVCache(model.config.numLayers);
    model.forward(tf.tensor2d([ids.slice(0, 6)], [1, 6], 'int32'), { cache, lastOnly: true }).dispose();
    let last: tf.Tensor | undefined;
    for (const id of ids.slice(6)) {
      last?.dispose();
      last = model.forward(tf.tensor2d([[id]], [1, 1], 'int32'), { cache, lastOnly: true });
    }
    const diff = tf.max(tf.abs(tf.sub(fullLast, last!))).dataSync()[0];
    expect(diff).toBeLessThan(1e-4);
    cache.dispose();
  });

  // What the story check above proves of the decoding loop, without trained weights: each token is the argmax of a
  // full forward over everything before it, and a stop id ends the answer without being part of it.
  it('greedy generation takes, at each step, the argmax of a full forward over the prefix, and stops at a stop id', async () => {
    const prompt = [1, 403, 407, 261];
    const { tokens, stoppedBy } = await generate(model, prompt, { maxNewTokens: 20, stopTokenIds: [] });
    expect([tokens.length, stoppedBy]).toEqual([20, 'max_tokens']);
    const ids = [...prompt];
    for (const token of tokens) {
      const logits = model.forward(tf.tensor2d([ids], [1, ids.length], 'int32'));
      const argmax = tf.argMax(logits.slice([0, ids.length - 1, 0], [1, 1, -1]).reshape([-1]));
      expect(argmax.dataSync()[0], `after ${ids.length} tokens`).toBe(token);
      tf.dispose([logits, argmax]);
      ids.push(token);
    }
    expect(new Set(tokens).size).toBeGreaterThan(1); // not one token repeated: the prefix really steers it
    const stopAt = tokens.findIndex((t) => t !== tokens[0]);
    const stopped = await generate(model, prompt, { maxNewTokens: 20, stopTokenIds: [tokens[stopAt]] });
    expect([stopped.tokens, stopped.stoppedBy]).toEqual([tokens.slice(0, stopAt), 'eos']);
  });

  it('keeps an f32 checkpoint in f32 under auto, and holds f16 as stored in the CPU GEMM kernels off WebGPU', async () => {
    const auto = await loadModel(dir);
    expect([auto.baseDtype, auto.placement]).toEqual(['f32', 'device']);
    expect(auto.model.weights.layers[0].proj.q_proj.cpu?.dtype).toBe('f32');
    const f16 = await loadModel(dir, { baseDtype: 'f16', placement: 'host' });
    expect(f16.model.weights.layers[0].proj.q_proj.cpu?.dtype).toBe('f16'); // 16-bit bits, never widened
  });
});
