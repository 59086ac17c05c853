// One side of the fused-kernel comparison (LORA_STUDIO_FUSED_KERNELS=0 or 1 decides which, at module load):
// tsx bench/kernels-worker.ts MODEL_DIR BACKEND BATCH SEQ STEPS → one JSON line with the kernels tfjs runs per training
// micro-step (forward + backward, LoRA r 8 on q_proj,v_proj), the GPU dispatches among them, and the mean time of a step after two warm-up steps.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../main/engine/backend/index.ts';
import { loadModel } from '../main/engine/model/load.ts';
import { LoraAdapter } from '../main/engine/model/lora.ts';
import { microBatchGradients } from '../main/engine/train/step.ts';

const [dir, backend, batch, seq, steps] = process.argv.slice(2);
const B = Number(batch);
const T = Number(seq);
const info = await initBackend(backend as never);
const { model, config } = await loadModel(dir);
const adapter = new LoraAdapter(
  config,
  { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'v_proj'], useRslora: false },
  (_l, _n, inF, outF) => ({
    a: new Float32Array(8 * inF).fill(0.01),
    b: new Float32Array(outF * 8).fill(0.01),
  }),
);
const inputIds = new Int32Array(B * T).map((_, i) => 3 + ((i * 7919) % (config.vocabSize - 3)));
const mb = { batchSize: B, seqLen: T, inputIds, labels: Int32Array.from(inputIds), attentionMask: new Int32Array(B * T).fill(1) };
const step = async () => tf.dispose((await microBatchGradients(model, adapter, mb, B * T)).grads);
await step();
await step();
const profile = await tf.profile(step);
const dispatches = await countDispatches(step);
const start = performance.now();
for (let i = 0; i < Number(steps); i++) await step();
const msPerStep = (performance.now() - start) / Number(steps);
console.log(
  JSON.stringify({
    backend: info.detail,
    kernels: profile.kernels.length,
    dispatches,
    ms_per_step: msPerStep,
    tokens_per_second: (B * T * 1000) / msPerStep,
  }),
);
process.exit(0);

/** GPU dispatches f makes: tfjs's profile also counts ops that dispatch nothing (reshapes, custom-gradient wrappers). */
async function countDispatches(f: () => Promise<void>): Promise<number> {
  const backend = tf.backend() as unknown as { runWebGPUProgram?: (...a: unknown[]) => unknown };
  const original = backend.runWebGPUProgram;
  if (!original) return 0;
  let n = 0;
  backend.runWebGPUProgram = function (...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  try {
    await f();
  } finally {
    backend.runWebGPUProgram = original;
  }
  return n;
}
