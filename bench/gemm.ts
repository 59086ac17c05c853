// `npm run bench -- gemm`: our GEMM kernels (cpu-kernels/) in each build (relaxed-SIMD FMA, SIMD128) and each
// stored mode of W, against torch.matmul (OpenBLAS, f32) on the same shapes and threads, alternating run by run.
// Shapes: TinyLlama-1.1B's and LLaMA-7B's projections and LM head, at 128 tokens (a micro batch of 1 × 128).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { CpuGemm } from '../main/engine/cpu-kernels/cpu-gemm.ts';
import type { CpuKernels } from '../main/engine/cpu-kernels/cpu-kernels.ts';
import { GEMM_QUANT_BLOCK } from '../main/engine/cpu-kernels/gemm-wat.ts';
import { loadNativeAddon, openblasCandidates } from '../main/engine/cpu-kernels/native-addon.ts';
import { NativeGemm } from '../main/engine/cpu-kernels/native-gemm.ts';
import { cpuMatmulPath } from '../main/engine/cpu-kernels/cpu-matmul-path.ts';
import { GEMM_RELAXED_BASE64, GEMM_SIMD128_BASE64 } from '../main/engine/cpu-kernels/gemm-kernels-wasm.ts';
import { wasmApi } from '../main/engine/cpu-kernels/wasm-api.ts';
import { NF4_LEVELS, storeMatrix } from '../main/engine/llama/block-quant.ts';
import { gemmInput } from '../main/engine/model/frozen-matrix.ts';
import type { BaseDtype } from '../main/engine/llama/base-dtype-names.ts';
import { pairedRatios, spreadOf, type Spread } from './spread.ts';

export interface GemmRow {
  model: string;
  shape: string;
  direction: string;
  build: string;
  mode: BaseDtype;
  gflops: number;
  torchGflops: number;
  ratio: Spread;
  /** GFLOP/s over this build's f32 on the same shape and direction (medians). */
  ofF32: number;
}

const SHAPES: [string, [string, number, number][]][] = [
  [
    'TinyLlama-1.1B',
    [
      ['q_proj', 2048, 2048],
      ['gate_proj', 5632, 2048],
      ['down_proj', 2048, 5632],
      ['lm_head', 32000, 2048],
    ],
  ],
  [
    'LLaMA-7B',
    [
      ['q_proj', 4096, 4096],
      ['gate_proj', 11008, 4096],
      ['lm_head', 32000, 4096],
    ],
  ],
];

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

function timeIt(f: () => void): number {
  f();
  let reps = 0;
  const start = performance.now();
  while (reps < 3 || performance.now() - start < 500) {
    f();
    reps++;
  }
  return (performance.now() - start) / reps;
}

export async function benchGemm(
  root: string,
  threads: number,
  repeats: number,
  only: string[],
): Promise<{ rows: GemmRow[]; markdown: string[] }> {
  const n = 128;
  const api = wasmApi()!;
  cpuMatmulPath();
  // the wasm builds are timed beside the native kernels: relaxed SIMD needs V8's flag on Node 20 (the path chosen
  // above turns it on only when it picks the wasm kernels)
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const builds: [string, string][] = [
    ['relaxed-simd', GEMM_RELAXED_BASE64],
    ['simd128', GEMM_SIMD128_BASE64],
  ];
  // the W modes named on the command line (f32 always, the reference of the others), else all
  const all: BaseDtype[] = ['f32', 'bf16', 'f16', 'int8', 'nf4'];
  const named = all.filter((m) => only.includes(m));
  const modes: BaseDtype[] = named.length ? ['f32', ...named.filter((m) => m !== 'f32')] : all;
  const models = SHAPES.filter(
    ([m]) => !only.some((o) => /^(tinyllama|llama7b)$/.test(o)) || only.includes(m === 'LLaMA-7B' ? 'llama7b' : 'tinyllama'),
  );
  // ms[key][run]
  const ours = new Map<string, number[]>();
  const torch = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  const gemms: [string, CpuKernels][] = [];
  // the native kernels first (the preferred build, where every W mode runs), unless `wasm` alone is asked for
  const native = only.includes('wasm') ? { reason: 'not asked for' } : loadNativeAddon();
  if (native.addon) {
    const blas = native.addon.init({ blas: openblasCandidates(), quantBlock: GEMM_QUANT_BLOCK });
    gemms.push(['native', NativeGemm.open(native.addon, blas, threads, NF4_LEVELS)]);
  } else console.error(`native kernels skipped: ${native.reason}`);
  for (const [name, b64] of builds) {
    if (only.includes('native')) break;
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    if (!api.validate(bytes)) continue;
    gemms.push([name, await CpuGemm.open(threads, new api.Module(bytes), NF4_LEVELS)]);
  }
  for (let run = 0; run < repeats; run++) {
    for (const [model, shapes] of models) {
      const list = shapes.map(([, r, c]) => `${r}x${c}`).join(',');
      const t = spawnSync('/usr/bin/python3', [path.join(root, 'bench/torch_gemm.py'), String(threads), String(n), list], {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'PASSIVE' },
      });
      const line = t.stdout.trim().split('\n').pop() ?? '';
      if (!line.startsWith('{')) throw new Error(`torch_gemm.py failed: ${t.stderr.slice(-1000)}`);
      const { ms } = JSON.parse(line) as { ms: Record<string, number> };
      for (const [k, v] of Object.entries(ms)) push(torch, `${model} ${k}`, v);
      for (const [, rows, cols] of shapes) {
        const values = random(rows * cols, rows + cols);
        for (const mode of modes) {
          const stored = storeMatrix(values, rows, cols, mode);
          for (const [build, gemm] of gemms) {
            if (mode !== 'f32' && build !== gemms[0][0]) continue; // the other modes in the preferred build only
            const m = gemm.upload(gemmInput(stored));
            const x = random(n * cols, 1);
            const dy = random(n * rows, 2);
            const outX = new Float32Array(n * rows);
            const outDy = new Float32Array(n * cols);
            push(
              ours,
              `${model} ${rows}x${cols} xwt ${build} ${mode}`,
              timeIt(() => gemm.product(m, 'xwt', x, n, outX)),
            );
            push(
              ours,
              `${model} ${rows}x${cols} dyw ${build} ${mode}`,
              timeIt(() => gemm.product(m, 'dyw', dy, n, outDy)),
            );
            gemm.release(m);
          }
        }
      }
    }
  }
  for (const [, g] of gemms) await g.close();
  const rows: GemmRow[] = [];
  for (const [model, shapes] of models) {
    for (const [proj, r, c] of shapes) {
      for (const direction of ['xwt', 'dyw']) {
        const ref = torch.get(`${model} ${r}x${c} ${direction}`)!;
        const flop = 2 * n * r * c;
        for (const [build] of gemms) {
          const f32 = ours.get(`${model} ${r}x${c} ${direction} ${build} f32`)!;
          for (const mode of modes) {
            const mine = ours.get(`${model} ${r}x${c} ${direction} ${build} ${mode}`);
            if (!mine) continue;
            rows.push({
              model,
              shape: `${proj} [${r}, ${c}]`,
              direction,
              build,
              mode,
              gflops: flop / spreadOf(mine).median / 1e6,
              torchGflops: flop / spreadOf(ref).median / 1e6,
              // a ratio of speeds: torch's time over ours, run by run
              ratio: pairedRatios(ref, mine),
              ofF32: spreadOf(f32).median / spreadOf(mine).median,
            });
          }
        }
      }
    }
  }
  const markdown = [
    `| model | W | product | kernels | W mode | GFLOP/s ours | GFLOP/s torch.matmul (f32) | ours / torch (min–max) | ours / our f32 |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.shape} | ${r.direction === 'xwt' ? 'x·Wᵀ' : 'dy·W'} | ${r.build} | ${r.mode} | ${r.gflops.toFixed(1)} | ${r.torchGflops.toFixed(1)} | ${r.ratio.median.toFixed(2)}× (${r.ratio.min.toFixed(2)}–${r.ratio.max.toFixed(2)}) | ${r.ofF32.toFixed(2)} |`,
    ),
    '',
    `- ${n} tokens (x [${n}, in]), ${threads} threads on both sides; each figure the median of ${repeats} runs, ours and torch alternating`,
  ];
  return { rows, markdown };
}
