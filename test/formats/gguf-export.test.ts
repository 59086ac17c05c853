import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { gguf } from '@huggingface/gguf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { exportLlamaGguf, permuteForInterleavedRope, permuteToRotateHalf } from '../../main/engine/formats/gguf-llama.ts';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { ggufTokenizerMetadata } from '../../main/engine/formats/gguf-tokenizer.ts';
import { GgmlType, GgufValueType, TokenType, str, u32 } from '../../main/engine/formats/gguf-types.ts';
import { writeGguf } from '../../main/engine/formats/gguf-writer.ts';
import { dequantizeQ8_0, quantizeQ8_0 } from '../../main/engine/formats/q8-0.ts';
import { generate } from '../../main/engine/generate/generate.ts';
import { loadModel, type LoadedModel } from '../../main/engine/model/load.ts';
import { loadLlamaCpp, type LlamaCppModel } from '../../main/engine/system/llama-cpp.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';

const MODEL = 'models/stories260K';
const dir = mkdtempSync(path.join(tmpdir(), 'gguf-test-'));

describe.skipIf(missingShared(`${MODEL}/model.safetensors`))('GGUF export of stories260K', () => {
  let ours: LoadedModel;
  let f32: LlamaCppModel;
  const files: Record<string, string> = {};
  beforeAll(async () => {
    await initBackend('wasm');
    ours = await loadModel(sharedPath(MODEL));
    for (const fileType of ['f32', 'f16', 'q8_0'] as const) {
      const source = await openCheckpoint(sharedPath(MODEL));
      files[fileType] = path.join(dir, `stories260K-${fileType}.gguf`);
      await exportLlamaGguf(source, ours.config, sharedPath(MODEL), files[fileType], { fileType });
      await source.close();
    }
    f32 = await loadLlamaCpp(files.f32, { threads: 1, f32Cache: true });
  });
  afterAll(async () => {
    await f32?.dispose();
  });

  it.each(['f32', 'f16', 'q8_0'] as const)('%s parses in @huggingface/gguf and in our strict reader', async (fileType) => {
    const parsed = await gguf(files[fileType], { allowLocalFile: true });
    const metadata = parsed.metadata as unknown as Record<string, unknown>;
    const tensorInfos = parsed.tensorInfos;
    expect(metadata['general.architecture']).toBe('llama');
    expect(metadata['llama.block_count']).toBe(5);
    expect(metadata['llama.attention.head_count_kv']).toBe(4);
    expect(metadata['general.file_type']).toBe({ f32: 0, f16: 1, q8_0: 7 }[fileType]);
    expect(tensorInfos.length).toBe(47 - 0); // tied: no output.weight; 5 × 9 + token_embd + output_norm
    const mine = await readGguf(files[fileType]);
    expect(mine.tensors.map((t) => t.name).sort()).toEqual(tensorInfos.map((t) => t.name).sort());
    for (const t of mine.tensors) expect(t.offset % 32).toBe(0);
    const q = mine.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(q.type).toBe({ f32: GgmlType.F32, f16: GgmlType.F16, q8_0: GgmlType.Q8_0 }[fileType]);
    // ffn_down rows are 172 long, not a multiple of 32: F16 in a Q8_0 file, as llama.cpp's converter does.
    if (fileType === 'q8_0') expect(mine.tensors.find((t) => t.name === 'blk.0.ffn_down.weight')!.type).toBe(GgmlType.F16);
    expect(mine.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!.type).toBe(GgmlType.F32);
    if (fileType === 'q8_0') expect(metadata['general.quantization_version']).toBe(2);
  });

  it('llama.cpp generates the same greedy story as our engine, token for token', async () => {
    const theirs = await f32.greedy([1], 80);
    const mine = (await generate(ours.model, [1], { maxNewTokens: 80, stopTokenIds: [2] })).tokens;
    expect(theirs.length).toBe(80);
    expect(mine).toEqual(theirs);
    expect(f32.detokenize(theirs)).toMatch(/^ ?Once upon a time, there was a little girl named Lily\. She loved to play outside in the park\./);
  });

  it("our next-token log-probabilities equal llama.cpp's within 1e-4 (top-5 ids identical, llama.cpp with an F32 KV cache)", async () => {
    const prompts = [
      [1, 403, 407, 261, 378, 267, 379],
      [1, ...ours.tokenizer.encode('The cat sat on the mat and', { addBos: false })],
      [1, ...ours.tokenizer.encode('Tom and Sue went to the shop to buy', { addBos: false })],
    ];
    for (const prompt of prompts) {
      const theirs = await f32.nextTokenProbabilities(prompt);
      const logits = ours.model.forward(tf.tensor2d([prompt], [1, prompt.length], 'int32'));
      const logProbs = tf.logSoftmax(logits).arraySync() as number[][][];
      prompt.forEach((_, i) => {
        const top = [...theirs[i].entries()].slice(0, 5);
        const mineTop = logProbs[0][i].map((v, id) => [id, v] as const).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([id]) => id);
        expect(mineTop).toEqual(top.map(([id]) => id));
        for (const [id, p] of top) expect(Math.abs(logProbs[0][i][id] - Math.log(p))).toBeLessThan(1e-4);
      });
    }
  });

  it('the Q8_0 file gives the same first 32 greedy tokens in llama.cpp on a few prompts', async () => {
    const q8 = await loadLlamaCpp(files.q8_0, { threads: 1 });
    try {
      for (const prompt of [[1], [1, 403, 407], [1, ...ours.tokenizer.encode('Once upon a time, a dog', { addBos: false })]]) {
        expect(await q8.greedy(prompt, 32)).toEqual(await f32.greedy(prompt, 32));
      }
    } finally {
      await q8.dispose();
    }
  });
});

describe.skipIf(missingShared('tokenizers/llama/tokenizer.json', 'tokenizers/llama-gguf-vocab/ggml-vocab-llama-spm.gguf'))('GGUF tokenizer metadata', () => {
  it("matches llama.cpp's own LLaMA vocabulary file (tokens, types, scores)", async () => {
    const theirs = await readGguf(sharedPath('tokenizers/llama-gguf-vocab/ggml-vocab-llama-spm.gguf'));
    const mine = new Map(ggufTokenizerMetadata(sharedPath('tokenizers/llama')).map(([k, v]) => [k, v.value]));
    expect(mine.get('tokenizer.ggml.model')).toBe('llama');
    const ourTokens = mine.get('tokenizer.ggml.tokens') as string[];
    const theirTokens = theirs.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(ourTokens.length).toBe(theirTokens.length);
    // One piece (id 31353) is an empty string in this tokenizer.json itself; every other token is identical.
    expect(ourTokens.map((t, i) => (t === theirTokens[i] ? -1 : i)).filter((i) => i >= 0)).toEqual([31353]);
    expect(ourTokens[31353]).toBe('');
    expect(mine.get('tokenizer.ggml.token_type')).toEqual(theirs.metadata.get('tokenizer.ggml.token_type'));
    const ourScores = mine.get('tokenizer.ggml.scores') as number[];
    const theirScores = theirs.metadata.get('tokenizer.ggml.scores') as number[];
    const differ = ourScores.map((s, i) => (Math.fround(s) === theirScores[i] ? -1 : i)).filter((i) => i >= 0);
    expect(differ).toEqual([]);
    for (const [k, v] of [['tokenizer.ggml.bos_token_id', 1], ['tokenizer.ggml.eos_token_id', 2], ['tokenizer.ggml.unknown_token_id', 0]] as const) {
      expect(mine.get(k)).toBe(v);
      expect(theirs.metadata.get(k)).toBe(v);
    }
    expect((mine.get('tokenizer.ggml.token_type') as number[])[3]).toBe(TokenType.BYTE);
  });
});

describe('GGUF pieces', () => {
  it('Q8_0 round trip stays within half a step of each block', () => {
    const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i * 0.37) * (i % 7));
    const back = dequantizeQ8_0(quantizeQ8_0(x), x.length);
    for (let b = 0; b < 8; b++) {
      const block = x.subarray(b * 32, b * 32 + 32);
      const d = Math.max(...block.map(Math.abs)) / 127;
      for (let j = 0; j < 32; j++) expect(Math.abs(back[b * 32 + j] - block[j])).toBeLessThanOrEqual(d * 0.5 + d * 2e-3 * 127 + 1e-7);
    }
    expect(() => quantizeQ8_0(new Float32Array(31))).toThrow(/multiple of 32/);
  });

  it('the RoPE permutation and its inverse are exact inverses', () => {
    const w = Float32Array.from({ length: 16 * 3 }, (_, i) => i);
    const p = permuteForInterleavedRope(w, 16, 3, 2);
    expect(Array.from(p.subarray(0, 6))).toEqual([0, 1, 2, 12, 13, 14]); // row 0 then row 4 (half of head_dim 8)
    expect(permuteToRotateHalf(p, 16, 3, 2)).toEqual(w);
  });

  describe('the strict reader rejects broken files', async () => {
    const good = path.join(dir, 'good.gguf');
    await writeGguf(good, [['general.architecture', str('llama')], ['x.count', u32(1)]], [
      { name: 'a', shape: [2, 32], type: GgmlType.F32, data: () => new Uint8Array(256) },
      { name: 'b', shape: [32], type: GgmlType.F32, data: () => new Uint8Array(128) },
    ]);
    const bytes = readFileSync(good);
    const variant = (name: string, edit: (b: Buffer) => Buffer) => {
      const p = path.join(dir, name);
      writeFileSync(p, edit(Buffer.from(bytes)));
      return p;
    };
    const at = (needle: string) => bytes.indexOf(Buffer.from(needle));
    // Tensor "a"'s info: its name is preceded by the u64 length 1; then u32 n_dims, 2 × u64 dims, u32 type.
    const tensorA = bytes.indexOf(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0x61])) + 8;
    it.each([
      ['bad magic', variant('magic.gguf', (b) => (b.write('GGUX', 0), b)), 'gguf/magic'],
      ['unknown version', variant('version.gguf', (b) => (b.writeUInt32LE(9, 4), b)), 'gguf/version'],
      ['absurd tensor count', variant('count.gguf', (b) => (b.writeBigUInt64LE(1n << 40n, 8), b)), 'gguf/absurd-count'],
      ['duplicate key', variant('dupkey.gguf', (b) => (b.write('general.architecture', at('x.count') - 0, 'latin1'), b)), 'gguf/'],
      ['duplicate tensor name', variant('duptensor.gguf', (b) => (b.write('a', bytes.lastIndexOf(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0x62])) + 8), b)), 'gguf/duplicate-tensor'],
      ['too little data', variant('short.gguf', (b) => b.subarray(0, b.length - 64)), 'gguf/out-of-range'],
      ['unknown tensor type', variant('type.gguf', (b) => (b.writeUInt32LE(99, tensorA + 1 + 4 + 16), b)), 'gguf/tensor-type'],
      ['too many dims', variant('dims.gguf', (b) => (b.writeUInt32LE(5, tensorA + 1), b)), 'gguf/'],
    ])('%s', async (_name, file, code) => {
      const err = await readGguf(file).then(() => undefined, (e) => e);
      expect(err, String(file)).toBeDefined();
      expect(err.code).toContain(code);
      expect(err.message).toContain(path.basename(file));
    });
    it('accepts the good file', async () => {
      expect((await readGguf(good)).tensors.map((t) => t.name)).toEqual(['a', 'b']);
      expect(GgufValueType.STRING).toBe(8);
    });
  });
});
