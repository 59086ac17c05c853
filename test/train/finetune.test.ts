import { readFileSync, readdirSync, existsSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { cpuMatmulPath } from '../../main/engine/cpu-kernels/cpu-matmul-path.ts';
import { openSafetensors } from '../../main/engine/formats/safetensors.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { parseFinetuneConfig, type FinetuneConfigInput } from '../../main/engine/train/config.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { tinyAlpacaFile, tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

// A model of stories260K's shape and instruction rows written by the test: training needs no trained weights.
let modelDir: string;
const data = { en: tinyAlpacaFile(96, 'en'), zh: tinyAlpacaFile(96, 'zh') };
const tmp = (name: string) => workFolder(name);

function settings(extra: Partial<FinetuneConfigInput>): ReturnType<typeof parseFinetuneConfig> {
  return parseFinetuneConfig({
    base_model: modelDir,
    data_path: data.en,
    // The short template, so the character tokenizer's 64 tokens reach the answers.
    prompt_template_name: 'alpaca_short',
    batch_size: 4,
    micro_batch_size: 2,
    cutoff_len: 64,
    val_set_size: 16,
    learning_rate: 3e-3,
    warmup_steps: 2,
    lora_target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    logging_steps: 1,
    eval_steps: 0,
    save_steps: 0,
    backend: 'wasm',
    ...extra,
  });
}

async function adapterBytes(dir: string): Promise<Map<string, Uint8Array>> {
  const f = await openSafetensors(path.join(dir, 'adapter_model.safetensors'));
  const out = new Map<string, Uint8Array>();
  for (const t of f.list()) out.set(t.name, await f.readRaw(t.name));
  await f.close();
  return out;
}

describe('fine-tuning a tiny LLaMA', () => {
  beforeAll(async () => {
    modelDir = await tinyModel();
    await initBackend('wasm');
  });

  it.each(['en', 'zh'] as const)('on %s rows lowers the validation loss; the adapter reloads with the same logits', async (file) => {
    const events: TrainingEvent[] = [];
    const out = tmp('ft');
    const config = settings({ data_path: data[file], output_dir: out, max_steps: 24, eval_steps: 12 });
    const result = await runFinetune(config, (e) => events.push(e));
    const evals = events.filter((e): e is Extract<TrainingEvent, { type: 'eval' }> => e.type === 'eval');
    // The baseline: the adapter starts as a no-op, so the first evaluation is the base model's... after 12 steps.
    expect(evals.length).toBe(2);
    expect(evals[1].evalLoss).toBeLessThan(evals[0].evalLoss);
    const start = events.find((e) => e.type === 'start');
    expect(start).toMatchObject({ type: 'start', totalSteps: 24 });
    // metrics.jsonl and config.json are in the run folder.
    const metrics = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.type === 'step').length).toBe(24);
    const saved = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(saved.lora_r).toBe(8);
    // the frozen products' path, recorded: the native kernels where the install built them, else our wasm kernels, and why
    expect(saved.matmul_kernel).toBe(cpuMatmulPath().kernel);
    expect(saved.matmul_kernel).toMatch(/^(native-openblas|wasm-relaxed-simd|wasm-simd128)$/);
    expect(saved.matmul_reason).toMatch(saved.matmul_kernel === 'native-openblas' ? /OpenBLAS/ : /relaxed SIMD/);
    // PEFT layout: 2 × 7 targets × 5 layers tensors, keys without adapter names.
    const bytes = await adapterBytes(result.adapterDir);
    expect(bytes.size).toBe(70);
    expect([...bytes.keys()][0]).toBe('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight');
    const cfg = JSON.parse(readFileSync(path.join(result.adapterDir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, bias: 'none', fan_in_fan_out: false });

    const withAdapter = await loadModel(modelDir, { loraWeights: result.adapterDir });
    const plain = await loadModel(modelDir);
    const ids = tf.tensor2d([[1, 403, 407, 261, 378]], [1, 5], 'int32');
    const a = withAdapter.model.forward(ids, { projection: withAdapter.adapter!.projection() });
    const b = plain.model.forward(ids);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeGreaterThan(1e-3); // the adapter changes the model
  });

  it('N steps, then resume, then N more steps equals 2N steps uninterrupted, bit for bit', async () => {
    const straight = tmp('straight');
    await runFinetune(settings({ output_dir: straight, max_steps: 8, save_steps: 4 }), () => {});
    const split = tmp('split');
    // The same run, stopped after step 4 (the stop writes a checkpoint), then resumed.
    const stop = new AbortController();
    const first = await runFinetune(
      settings({ output_dir: split, max_steps: 8, save_steps: 4 }),
      (e) => {
        if (e.type === 'step' && e.step === 4) stop.abort();
      },
      { signal: stop.signal },
    );
    expect(first).toMatchObject({ reason: 'stopped', steps: 4 });
    await runFinetune(settings({ output_dir: split, max_steps: 8, save_steps: 4, resume_from_checkpoint: true }), () => {});
    const a = await adapterBytes(path.join(straight, 'adapter'));
    const b = await adapterBytes(path.join(split, 'adapter'));
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, v] of a) expect(Buffer.compare(Buffer.from(v), Buffer.from(b.get(k)!)), k).toBe(0);
    const optA = readFileSync(path.join(straight, 'checkpoints/step-8/optimizer.safetensors'));
    const optB = readFileSync(path.join(split, 'checkpoints/step-8/optimizer.safetensors'));
    expect(Buffer.compare(optA, optB)).toBe(0);
  });

  it('refuses a corrupted checkpoint by name and resumes from the previous good one', async () => {
    const out = tmp('corrupt');
    await runFinetune(settings({ output_dir: out, max_steps: 4, save_steps: 2, save_total_limit: 0 }), () => {});
    appendFileSync(path.join(out, 'checkpoints/step-4/adapter_model.safetensors'), 'x');
    await expect(
      runFinetune(settings({ output_dir: out, max_steps: 6, resume_from_checkpoint: path.join(out, 'checkpoints/step-4') }), () => {}),
    ).rejects.toThrow(/step-4: cannot resume: .*adapter_model\.safetensors: contents do not match the manifest/);
    const logs: string[] = [];
    await runFinetune(settings({ output_dir: out, max_steps: 6, resume_from_checkpoint: true }), (e) => {
      if (e.type === 'log') logs.push(e.message);
    });
    expect(logs.some((m) => m.includes('skipping checkpoint') && m.includes('step-4'))).toBe(true);
    expect(logs.some((m) => m.includes('resuming from') && m.includes('step-2') && m.includes('at step 2'))).toBe(true);
  });

  it('stops with a clear message when the loss is not finite, keeping the last good checkpoint', async () => {
    const out = tmp('nan');
    await expect(
      runFinetune(settings({ output_dir: out, max_steps: 6, save_steps: 1, learning_rate: 1e30, warmup_steps: 0 }), () => {}),
    ).rejects.toThrow(/training loss became (NaN|Infinity) at step \d+; stopped.*Last good checkpoint: .*step-\d+/);
    expect(existsSync(path.join(out, 'adapter'))).toBe(false);
    expect(readdirSync(path.join(out, 'checkpoints')).length).toBeGreaterThan(0);
  });

  it('rejects bad settings naming the field', () => {
    expect(() => settings({ batch_size: 5, micro_batch_size: 2 })).toThrow(/batch_size \(5\) must be a multiple of micro_batch_size \(2\)/);
    expect(() => parseFinetuneConfig({ base_model: 'x', data_path: 'y', lora_target_modules: ['qkv'] })).toThrow(/lora_target_modules/);
    writeFileSync(path.join(tmp('cfg'), 'unused'), '');
  });
});
