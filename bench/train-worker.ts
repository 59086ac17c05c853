// One side of the training benchmark, in its own process so its peak RSS is its own:
// tsx bench/train-worker.ts MODEL_DIR TARGETS BATCH SEQ STEPS R BACKEND [THREADS] → one JSON line.
import { initBackend } from '../main/engine/backend/index.ts';
import { collate } from '../main/engine/data/batches.ts';
import { Prng } from '../main/engine/data/prng.ts';
import { loadModel } from '../main/engine/model/load.ts';
import { LoraAdapter, checkTargets } from '../main/engine/model/lora.ts';
import { kaimingUniformInit } from '../main/engine/model/lora-init.ts';
import { AdamW } from '../main/engine/train/adamw.ts';
import { train } from '../main/engine/train/trainer.ts';

const [dir, targets, batch, seq, steps, r, backend, threads] = process.argv.slice(2);
const B = Number(batch);
const T = Number(seq);
// The same thread count PyTorch gets, when the bench gives one.
const info = await initBackend((backend ?? 'wasm') as never, { threads: threads ? Number(threads) : undefined });
const { model, config } = await loadModel(dir);
const prng = new Prng(1);
const adapter = new LoraAdapter(
  config,
  { r: Number(r), alpha: 2 * Number(r), dropout: 0, targetModules: checkTargets(targets.split(',')), useRslora: false },
  kaimingUniformInit(() => prng.next(), Number(r)),
);
const optimizer = new AdamW(adapter.variables);
const row = (n: number) => {
  const ids = Array.from({ length: T }, (_, i) => 3 + ((n * 7919 + i * 104729) % (config.vocabSize - 3)));
  return { inputIds: ids, labels: ids, truncated: false, fullLength: T };
};
const total = Number(steps) + 2;
let start = 0;
let tokensAtStart = 0;
let tokens = 0;
await train(
  model,
  adapter,
  optimizer,
  { microBatchesPerEpoch: total, microBatch: (_e, i) => collate(Array.from({ length: B }, (_, b) => row(i * B + b))), validation: [] },
  {
    learningRate: 1e-4,
    warmupSteps: 0,
    gradientAccumulation: 1,
    numEpochs: 1,
    maxSteps: total,
    maxGradNorm: 1,
    loggingSteps: 1,
    evalSteps: 0,
    saveSteps: 0,
    earlyStoppingPatience: 0,
    seed: 1,
  },
  {
    saveCheckpoint: async () => '',
    listener: (e) => {
      if (e.type !== 'step') return;
      tokens += B * T;
      if (e.step === 2) {
        start = performance.now(); // after two warm-up steps
        tokensAtStart = tokens;
      }
    },
  },
);
const seconds = (performance.now() - start) / 1000;
console.log(
  JSON.stringify({
    tokens_per_second: (tokens - tokensAtStart) / seconds,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    threads: info.threads,
    backend: info.detail,
  }),
);
process.exit(0);
