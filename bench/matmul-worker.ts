// The packed frozen-weight matmul against tfjs's own matmul on the same WebGPU adapter:
// tsx bench/matmul-worker.ts BACKEND N ROWS COLS ITERS → one JSON line per storage mode and direction, with the mean
// time of a product (after two warm-up runs, each timed run read back so the GPU work is inside the time).
// tfjs's side multiplies the dequantized f32 W: forward with its transposed-operand matmul (x·Wᵀ, what a frozen layer
// would ask of it), backward dy·W; ours reads the stored form. Its path (tiled or subgroup matrices) is
// LORA_STUDIO_MATMUL's and the adapter's, as in training.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../main/engine/backend/index.ts';
import { selectMatmulPath } from '../main/engine/backend/webgpu-matmul-path.ts';
import { disposePacked, packForGpu, packedMatMul } from '../main/engine/backend/webgpu-packed-matmul.ts';
import { dequantizeRows, storeMatrix } from '../main/engine/llama/block-quant.ts';
import { BASE_DTYPES } from '../main/engine/llama/base-dtype-names.ts';

const [backend, nArg, rowsArg, colsArg, itersArg] = process.argv.slice(2);
const [n, rows, cols, iters] = [nArg, rowsArg, colsArg, itersArg].map(Number);
const info = await initBackend(backend as never);
const path = await selectMatmulPath();

/** Mean ms of f() over `iters` runs after two warm-ups, each result read back (a GPU sync) and freed. */
async function time(f: () => tf.Tensor): Promise<number> {
  for (let i = 0; i < 2; i++) {
    const t = f();
    await t.data();
    t.dispose();
  }
  const start = performance.now();
  for (let i = 0; i < iters; i++) {
    const t = f();
    await t.data();
    t.dispose();
  }
  return (performance.now() - start) / iters;
}

const values = (await tf.randomNormal([rows, cols], 0, 0.05, 'float32', 1).data()) as Float32Array;
const x = tf.randomNormal([n, cols], 0, 1, 'float32', 2) as tf.Tensor2D;
const dy = tf.randomNormal([n, rows], 0, 1, 'float32', 3) as tf.Tensor2D;
const flops = 2 * n * rows * cols;
for (const dtype of BASE_DTYPES) {
  const stored = storeMatrix(values, rows, cols, dtype);
  const m = packForGpu(stored);
  const w = tf.tensor2d(dequantizeRows(stored), [rows, cols]);
  const backwardOf = (f: (t: tf.Tensor2D) => tf.Tensor) => () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor2D), dy)))(x);
  const rowsOut = [
    { direction: 'forward x·Wᵀ', ours: await time(() => packedMatMul(x, m)), tfjs: await time(() => tf.matMul(x, w, false, true)) },
    // The gradient through ours is dy·W from the packed copy (plus tfjs's mul/sum around it, on both sides alike).
    {
      direction: 'backward dy·W',
      ours: await time(backwardOf((t) => packedMatMul(t, m))),
      tfjs: await time(backwardOf((t) => tf.matMul(t, w, false, true))),
    },
  ];
  for (const r of rowsOut) {
    console.log(
      JSON.stringify({
        backend: info.detail,
        kernel: path.kernel,
        dtype,
        shape: `${n}×${cols} · (${rows}×${cols})ᵀ`,
        ...r,
        ours_gflops: flops / r.ours / 1e6,
        tfjs_gflops: flops / r.tfjs / 1e6,
      }),
    );
  }
  disposePacked(m);
  w.dispose();
}
process.exit(0);
