// `npm run bench -- cpu-profile MODEL_DIR BATCH SEQ [THREADS]`: one LoRA step (r 8 on q,v) on the wasm backend with
// whichever CPU kernels this process chose, timed over STEPS steps (default 5) after 3 warm-up steps, then tfjs's
// profile of one more step by kernel name: where a step's time goes, before and after a change to the CPU path
// (LORA_STUDIO_CPU_MATMUL, LORA_STUDIO_CPU_FUSED=off). A tool for looking, not a measurement against a reference.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../main/engine/backend/index.ts';
import { collate } from '../main/engine/data/batches.ts';
import { Prng } from '../main/engine/data/prng.ts';
import { loadModel } from '../main/engine/model/load.ts';
import { LoraAdapter, checkTargets } from '../main/engine/model/lora.ts';
import { kaimingUniformInit } from '../main/engine/model/lora-init.ts';
import { AdamW, clipGlobalNorm } from '../main/engine/train/adamw.ts';
import { microBatchGradients } from '../main/engine/train/step.ts';
const [dir, b, t, th] = process.argv.slice(3);
if (!dir || !b || !t) throw new Error('usage: npm run bench -- cpu-profile MODEL_DIR BATCH SEQ [THREADS]');
const B = Number(b),
  T = Number(t);
await initBackend('wasm' as never, { threads: Number(th ?? 2) });
const { model, config } = await loadModel(dir);
const prng = new Prng(1);
const adapter = new LoraAdapter(
  config,
  { r: 8, alpha: 16, dropout: 0, targetModules: checkTargets(['q_proj', 'v_proj']), useRslora: false },
  kaimingUniformInit(() => prng.next(), 8),
);
const opt = new AdamW(adapter.variables);
const row = (n: number) => {
  const ids = Array.from({ length: T }, (_, i) => 3 + ((n * 7919 + i * 104729) % (config.vocabSize - 3)));
  return { inputIds: ids, labels: ids, truncated: false, fullLength: T };
};
async function step(i: number) {
  const mb = collate(Array.from({ length: B }, (_, k) => row(i * B + k)));
  const { grads } = await microBatchGradients(model, adapter, mb, B * T);
  const clip = await clipGlobalNorm(grads, 1);
  opt.apply(clip.grads, 1e-4);
  tf.dispose(grads);
  if (clip.grads !== grads) tf.dispose(clip.grads);
}
for (let i = 0; i < 3; i++) await step(i);
const t0 = performance.now();
const N = Number(process.env.STEPS ?? 5);
for (let i = 0; i < N; i++) await step(3 + i);
const ms = (performance.now() - t0) / N;
const prof = await tf.profile(() => step(100));
const agg = new Map<string, [number, number]>();
for (const k of prof.kernels) {
  const a = agg.get(k.name) ?? [0, 0];
  a[0]++;
  a[1] += Number(k.kernelTimeMs) || 0;
  agg.set(k.name, a);
}
const total = [...agg.values()].reduce((s, a) => s + a[1], 0);
console.log(`step ${ms.toFixed(1)} ms (mean of ${N}); kernels ${prof.kernels.length}, kernel time ${total.toFixed(1)} ms`);
for (const [n, [c, m]] of [...agg].sort((a, b) => b[1][1] - a[1][1]).slice(0, 25))
  console.log(n.padEnd(24), String(c).padStart(5), m.toFixed(1).padStart(8));
process.exit(0);
