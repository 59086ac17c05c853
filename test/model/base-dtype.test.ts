// base_dtype as a user meets it: the setting and its aliases, the estimate per mode, auto's choice, and one clear
// line before step 1 for a mode the backend cannot run, a checkpoint dtype that cannot be read, a model that cannot fit.
import { availableParallelism } from 'node:os';
import { PANEL_BYTES } from '../../main/engine/cpu-kernels/gemm-task.ts';
import { cpuMatmulPath } from '../../main/engine/cpu-kernels/cpu-matmul-path.ts';
import { nativeThreadBytes } from '../../main/engine/cpu-kernels/native-addon.ts';
import { execFile } from 'node:child_process';
import {
  LLAMA_7B_SHAPE,
  TINYLLAMA_1B_SHAPE,
  syntheticConfigJson,
  writeSyntheticModel,
} from '../../main/engine/synthetic/synthetic-model.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { writeSafetensors } from '../../main/engine/formats/safetensors.ts';
import { autoCandidates } from '../../main/engine/llama/base-dtype.ts';
import { bytesPerWeight } from '../../main/engine/llama/block-quant.ts';
import { parseLlamaConfig } from '../../main/engine/llama/config.ts';
import { JIT_PIECE_BYTES } from '../../main/engine/llama/frozen-placement.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { PROJECTIONS, projectionShape } from '../../main/engine/llama/projections.ts';
import { parseFinetuneConfig } from '../../main/engine/train/config.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import { chooseBaseDtype, estimateTrainingMemory, WASM_HEAP_BYTES } from '../../main/engine/system/memory-estimate.ts';
import { LOWERCASE_ALPHABET, writeLowercaseAlpaca } from '../helpers/synthetic.ts';

const GiB = 2 ** 30;
const tinyLlama = parseLlamaConfig(syntheticConfigJson(TINYLLAMA_1B_SHAPE));
const llama7b = parseLlamaConfig(syntheticConfigJson(LLAMA_7B_SHAPE));
const workload = { microBatchSize: 1, cutoffLen: 128, loraR: 8, targetModules: ['q_proj', 'v_proj'] as const };
const work = mkdtempSync(path.join(tmpdir(), 'base-dtype-'));
const SMALL_SHAPE = {
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  vocab_size: 320,
  tie_word_embeddings: false,
};
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the base_dtype setting', () => {
  const base = { base_model: 'm', data_path: 'd.json' };
  it('defaults to auto; load_in_8bit and load_in_4bit mean int8 and nf4; frozen_dtype is read as base_dtype', () => {
    expect(parseFinetuneConfig(base).base_dtype).toBe('auto');
    expect(parseFinetuneConfig({ ...base, load_in_8bit: true }).base_dtype).toBe('int8');
    expect(parseFinetuneConfig({ ...base, load_in_4bit: true }).base_dtype).toBe('nf4');
    expect(parseFinetuneConfig({ ...base, frozen_dtype: 'f16' }).base_dtype).toBe('f16');
    expect(parseFinetuneConfig({ ...base, base_dtype: 'int8', load_in_8bit: true }).base_dtype).toBe('int8');
  });
  it('refuses contradicting spellings and unknown modes, naming them', () => {
    expect(() => parseFinetuneConfig({ ...base, load_in_8bit: true, load_in_4bit: true })).toThrow(
      /conflicting settings: load_in_8bit \(int8\), load_in_4bit \(nf4\)/,
    );
    expect(() => parseFinetuneConfig({ ...base, base_dtype: 'f16', load_in_4bit: true })).toThrow(
      /conflicting settings: base_dtype \(f16\), load_in_4bit \(nf4\)/,
    );
    expect(() => parseFinetuneConfig({ ...base, base_dtype: 'int4' })).toThrow(/base_dtype/);
  });
});

describe('the memory estimate per mode', () => {
  it('holds a host-placed base at its bytes per weight outside the wasm heap, 16-bit embeddings and lm_head', () => {
    const { vocabSize: V, hiddenSize: H, numLayers: L } = tinyLlama;
    const projections = L * PROJECTIONS.reduce((n, p) => n + projectionShape(tinyLlama, p).reduce((a, b) => a * b, 1), 0);
    for (const mode of ['bf16', 'int8', 'nf4'] as const) {
      const e = estimateTrainingMemory(tinyLlama, { ...workload, baseDtype: mode, native: 'bf16', backendName: 'wasm' });
      expect(e.placement).toBe('host');
      expect(e.hostWeightsBytes).toBeCloseTo(projections * bytesPerWeight(mode) + 2 * V * H * 2, -1);
      expect(e.heapLimitBytes).toBe(WASM_HEAP_BYTES);
      expect(e.heapBytes).toBeLessThan(WASM_HEAP_BYTES); // activations, LoRA and optimizer
      // the CPU GEMM kernels' operands for the LM head's backward (dy copied and packed, dx), outside the heap: no
      // matrix is widened to f32 any more
      const tokens = workload.microBatchSize * workload.cutoffLen;
      expect(e.transientBytes).toBe(
        cpuMatmulPath().kernel === 'native-openblas'
          ? // the native kernels: each thread's scratch only (they read and write tfjs's tensors in place)
            nativeThreadBytes(workload.cutoffLen) * availableParallelism()
          : (2 * tokens * V + tokens * H) * 4 + PANEL_BYTES * availableParallelism(),
      );
      // the tfjs path (LORA_STUDIO_CPU_MATMUL=tfjs) dequantized a piece of lm_head in f32 into the heap, the largest matrix
      const jit = estimateTrainingMemory(tinyLlama, {
        ...workload,
        baseDtype: mode,
        native: 'bf16',
        backendName: 'wasm',
        cpuKernels: false,
      });
      expect(jit.transientBytes).toBe(Math.min(V * H * 4, JIT_PIECE_BYTES));
      expect(jit.hostWeightsBytes).toBe(e.hostWeightsBytes);
      expect(e.heapBytes).toBeLessThan(jit.heapBytes - JIT_PIECE_BYTES / 2);
      expect(e.totalBytes).toBeLessThan(jit.totalBytes);
    }
    const int8 = estimateTrainingMemory(tinyLlama, { ...workload, baseDtype: 'int8', native: 'bf16', backendName: 'wasm' });
    const f32 = estimateTrainingMemory(tinyLlama, { ...workload, baseDtype: 'f32', native: 'bf16', backendName: 'wasm' });
    console.log(
      `TinyLlama-1.1B estimate at 1 × 128: int8 ${(int8.totalBytes / GiB).toFixed(2)} GiB in all, ${(int8.heapBytes / GiB).toFixed(2)} GiB of it in the wasm heap`,
    );
    expect(int8.hostWeightsBytes).toBeLessThan(1.3 * GiB);
    expect(f32.hostWeightsBytes / int8.hostWeightsBytes).toBeGreaterThan(3);
  });

  it('auto tries the checkpoint as stored, then int8, then nf4', () => {
    expect(autoCandidates('bf16')).toEqual(['bf16', 'int8', 'nf4']);
    expect(autoCandidates('f32')).toEqual(['f32', 'int8', 'nf4']);
  });

  it('refuses before loading, with the figures, when nothing fits the wasm heap (lora_r 100000)', () => {
    const huge = { ...workload, loraR: 100000 };
    expect(() =>
      chooseBaseDtype(llama7b, 'auto', { native: 'bf16', backendName: 'wasm', candidates: ['bf16', 'int8', 'nf4'] }, huge, 'llama-7b'),
    ).toThrow(
      /^llama-7b: the model does not fit with these settings: base_dtype bf16: .* of the wasm heap's 4\.00 GiB .*; base_dtype nf4: .*Lower lora_r \(100000\), micro_batch_size \(1\) or cutoff_len \(128\)$/,
    );
  });

  it('names the mode auto chose and why', () => {
    const d = chooseBaseDtype(
      tinyLlama,
      'auto',
      { native: 'bf16', backendName: 'wasm', candidates: ['bf16', 'int8', 'nf4'] },
      workload,
      'tiny',
    );
    expect(d.why).toMatch(new RegExp(`^base_dtype auto chose ${d.mode}`));
    expect(['bf16', 'int8', 'nf4']).toContain(d.mode);
  });
});

describe('bad input gets one clear line before step 1', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('a checkpoint whose weights are not a float type, or whose values f16 cannot hold', async () => {
    const shape = {
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 300,
      tie_word_embeddings: false,
    };
    const dir = path.join(work, 'int-weights');
    await writeSyntheticModel(dir, shape, { alphabet: LOWERCASE_ALPHABET });
    // The same tensors, all stored as I8 (an already quantized checkpoint).
    const config = parseLlamaConfig({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      ...shape,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-5,
      hidden_act: 'silu',
    });
    const { expectedTensors } = await import('../../main/engine/llama/tensors.ts');
    await writeSafetensors(
      path.join(dir, 'model.safetensors'),
      [...expectedTensors(config)].map(([name, dims]) => ({
        name,
        dtype: 'I8' as const,
        shape: dims,
        data: new Uint8Array(dims.reduce((a, b) => a * b, 1)),
      })),
    );
    await expect(loadModel(dir, { baseDtype: 'int8' })).rejects.toThrow(
      /int-weights: the checkpoint's weights are I8 \(model\.layers\.0\.self_attn\.q_proj\.weight\), which cannot be read as a full-precision base/,
    );

    const big = path.join(work, 'big-values');
    await writeSyntheticModel(big, shape, { alphabet: LOWERCASE_ALPHABET });
    const { openCheckpoint } = await import('../../main/engine/formats/hf-checkpoint.ts');
    const src = await openCheckpoint(big);
    const tensors = [];
    for (const t of src.list()) {
      const v = await src.readF32(t.name);
      if (t.name.endsWith('q_proj.weight')) v[3] = 1e6;
      tensors.push({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: new Uint8Array(v.buffer) });
    }
    await src.close();
    await writeSafetensors(path.join(big, 'model.safetensors'), tensors);
    await expect(loadModel(big, { baseDtype: 'f16' })).rejects.toThrow(
      /tensor model\.layers\.0\.self_attn\.q_proj\.weight holds 1000000, which f16 cannot represent; use --base_dtype bf16/,
    );
    expect((await loadModel(big, { baseDtype: 'bf16' })).baseDtype).toBe('bf16');
  });

  it('a model that does not fit: finetune refuses micro_batch_size 20000 before loading any weight', async () => {
    const dir = path.join(work, 'small-model');
    await writeSyntheticModel(dir, SMALL_SHAPE, { alphabet: LOWERCASE_ALPHABET }, { dtype: 'BF16' });
    const data = path.join(work, 'data.json');
    writeLowercaseAlpaca(data);
    const config = parseFinetuneConfig({
      base_model: dir,
      data_path: data,
      output_dir: path.join(work, 'run-huge'),
      lora_r: 8,
      micro_batch_size: 20000,
      batch_size: 20000,
      cutoff_len: 32,
      val_set_size: 0,
      backend: 'wasm',
      lora_target_modules: [...PROJECTIONS],
    });
    const logs: string[] = [];
    await expect(runFinetune(config, (e) => e.type === 'log' && logs.push(e.message))).rejects.toThrow(
      /small-model: the model does not fit with these settings: base_dtype bf16: .*micro_batch_size \(20000\)/,
    );
  });

  it('on the command line: --load_in_4bit is accepted, and a run that cannot fit ends in one line naming the figures', async () => {
    const dir = path.join(work, 'cli-model');
    await writeSyntheticModel(dir, SMALL_SHAPE, { alphabet: LOWERCASE_ALPHABET }, { dtype: 'BF16' });
    const data = path.join(work, 'cli-data.json');
    writeLowercaseAlpaca(data);
    const args = [
      'bin/lora-studio.mjs',
      'finetune',
      '--base_model',
      dir,
      '--data_path',
      data,
      '--output_dir',
      path.join(work, 'cli-run'),
      '--load_in_4bit',
      '--lora_r',
      '8',
      '--lora_target_modules',
      `[${PROJECTIONS.join(',')}]`,
      '--micro_batch_size',
      '20000',
      '--batch_size',
      '20000',
      '--val_set_size',
      '0',
      '--backend',
      'wasm',
    ];
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, args, { encoding: 'utf8' }, (err, _out, stderr) => resolve({ code: err ? 1 : 0, stderr })),
    );
    expect(code).toBe(1);
    const errors = stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/cli-model: the model does not fit with these settings: base_dtype nf4: .*micro_batch_size \(20000\)/);
    expect(stderr).not.toMatch(/unexpected error/);
  }, 120_000);
});
