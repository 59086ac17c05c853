// One training run of `npm run bench -- scale`, in its own process so its peak RSS (VmHWM, printed on exit by
// test/helpers/hwm-exit.mjs) is its own:
// tsx bench/scale-train-worker.ts MODEL_DIR DATA_FILE RUN_DIR BASE_DTYPE|default → one JSON line on stdout.
// It runs the real `finetune` path (runFinetune: load, estimate, data, train, save), 2 steps of micro batch 1 at
// cutoff 128, LoRA r 8 on q_proj and v_proj, on wasm.
import { loadLlamaConfig } from '../main/engine/llama/config.ts';
import { estimateForCheckpoint } from '../main/engine/system/memory-estimate.ts';
import { parseFinetuneConfig } from '../main/engine/train/config.ts';
import { runFinetune } from '../main/engine/train/finetune.ts';

export const SCALE_TRAINING = {
  micro_batch_size: 1,
  cutoff_len: 128,
  lora_r: 8,
  lora_target_modules: ['q_proj', 'v_proj'] as const,
  steps: 2,
};

const [modelDir, dataFile, runDir, baseDtype] = process.argv.slice(2);
const started = performance.now();
let loadedAt = 0;
const stepEnds: number[] = [];
let tokensPerSecond = 0;
const config = parseFinetuneConfig({
  base_model: modelDir,
  data_path: dataFile,
  output_dir: runDir,
  batch_size: SCALE_TRAINING.micro_batch_size,
  micro_batch_size: SCALE_TRAINING.micro_batch_size,
  cutoff_len: SCALE_TRAINING.cutoff_len,
  lora_r: SCALE_TRAINING.lora_r,
  lora_target_modules: [...SCALE_TRAINING.lora_target_modules],
  max_steps: SCALE_TRAINING.steps,
  val_set_size: 0,
  warmup_steps: 0,
  save_steps: 0,
  logging_steps: 1,
  backend: 'wasm',
  base_dtype: baseDtype,
});
const result = await runFinetune(config, (e) => {
  if (e.type === 'start') loadedAt = performance.now();
  if (e.type === 'step') {
    stepEnds.push(performance.now());
    tokensPerSecond = e.tokensPerSecond;
  }
  if (e.type === 'log' && e.level === 'warn') console.error(e.message);
});
// The estimate the wizard shows for these settings and this mode (the CPU path, as trained here).
const estimate = await estimateForCheckpoint(modelDir, loadLlamaConfig(modelDir), config.base_dtype, {
  microBatchSize: SCALE_TRAINING.micro_batch_size,
  cutoffLen: SCALE_TRAINING.cutoff_len,
  loraR: SCALE_TRAINING.lora_r,
  targetModules: SCALE_TRAINING.lora_target_modules,
  gradientCheckpointing: config.gradient_checkpointing,
});
const stepSeconds = stepEnds.map((t, i) => (t - (i === 0 ? loadedAt : stepEnds[i - 1])) / 1000);
console.log(
  JSON.stringify({
    loadSeconds: (loadedAt - started) / 1000,
    stepSeconds,
    tokensPerSecond,
    estimateBytes: estimate.totalBytes,
    adapterDir: result.adapterDir,
  }),
);
process.exit(0);
