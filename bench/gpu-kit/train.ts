import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { finetuneConfigSchema, parseFinetuneConfig } from '../../main/engine/train/config.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import { readGpuStats } from '../../main/engine/system/gpu-stats.ts';
import type { BackendChoice } from '../../main/engine/backend/choices.ts';
import { BASE_DTYPES } from '../../main/engine/llama/base-dtype-names.ts';

/** The base storages the config accepts (base_dtype's choices, auto aside). */
export function acceptedBases(): string[] {
  return BASE_DTYPES.filter((b) => finetuneConfigSchema.shape.base_dtype.safeParse(b).success);
}

export interface TrainSpec {
  modelDir: string;
  backend: BackendChoice;
  targets: string[];
  r: number;
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
  /** f16, int8, nf4…: the frozen base's storage (base_dtype). */
  base: string;
}

/**
 * Timed LoRA training through the user's path (runFinetune with a parsed config): `warmup` steps, then `steps` timed
 * ones. Peak GPU memory is nvidia-smi's memory.used polled every 200 ms (the whole device, this process alone on it).
 */
export async function timedTraining(spec: TrainSpec): Promise<Record<string, unknown>> {
  const runDir = mkdtempSync(path.join(tmpdir(), 'lora-studio-kit-run-'));
  const config = parseFinetuneConfig({
    base_model: spec.modelDir,
    data_path: path.join(spec.modelDir, 'data.json'),
    output_dir: runDir,
    backend: spec.backend,
    batch_size: spec.batch,
    micro_batch_size: spec.batch,
    cutoff_len: spec.seq,
    val_set_size: 0,
    lora_r: spec.r,
    lora_alpha: 2 * spec.r,
    lora_dropout: 0,
    lora_target_modules: spec.targets,
    base_dtype: spec.base,
    max_steps: spec.warmup + spec.steps,
    warmup_steps: 0,
    logging_steps: 1,
    eval_steps: 0,
    save_steps: 0,
  });
  let peakMiB: number | null = null;
  const poll = setInterval(() => {
    void readGpuStats().then((s) => {
      for (const g of s.gpus) if (g.memoryUsedMiB !== null) peakMiB = Math.max(peakMiB ?? 0, g.memoryUsedMiB);
    });
  }, 200);
  const stepAt: number[] = [];
  const logs: string[] = [];
  try {
    await runFinetune(config, (e) => {
      if (e.type === 'step') stepAt[e.step] = performance.now();
      if (e.type === 'log') logs.push(e.message);
    });
  } finally {
    clearInterval(poll);
    rmSync(runDir, { recursive: true, force: true });
  }
  const seconds = (stepAt[spec.warmup + spec.steps] - stepAt[spec.warmup]) / 1000;
  return {
    tokens_per_second: (spec.steps * spec.batch * spec.seq) / seconds,
    seconds_per_step: seconds / spec.steps,
    peak_gpu_bytes: peakMiB === null ? null : peakMiB * 2 ** 20,
    peak_gpu_source: peakMiB === null ? null : 'nvidia-smi memory.used, polled every 200 ms',
    base_dtype: spec.base,
    matmul: process.env.LORA_STUDIO_MATMUL ?? 'auto',
    // The backend line and what the kernels chose (e.g. the subgroup-matrix self-test's verdict), as runFinetune logged.
    log: logs.filter((l) => /backend|matmul|subgroup|frozen|base|WebGPU device/i.test(l)),
  };
}
