// Which kernel serves the packed frozen-weight products on WebGPU, and why: the register-tiled kernel always works;
// subgroup matrices (tensor cores) are used only when the adapter offers a usable config AND a start-up self-test of
// a few products agrees with the tiled kernel. LORA_STUDIO_MATMUL=auto|tiled|subgroup-matrix overrides (a forced
// subgroup-matrix path that cannot run is an error, not a silent fallback).
import * as tf from '@tensorflow/tfjs';
import { StudioError } from '../errors.ts';
import { cpuMatmulPath, type CpuMatmulPath } from '../cpu-kernels/cpu-matmul-path.ts';
import { storeMatrix } from '../llama/block-quant.ts';
import { type BaseDtype } from '../llama/base-dtype-names.ts';
import { backendInfo } from './index.ts';
import {
  disposePacked,
  packForGpu,
  subgroupProduct,
  tiledProduct,
  useSubgroupMatrices,
  type GpuPackedMatrix,
} from './webgpu-packed-matmul.ts';
import { chooseSubgroupSetup, subgroupCandidates, type SubgroupMatrixConfigLike, type SubgroupSetup } from './webgpu-subgroup-matmul.ts';
import type { MatmulDirection } from './webgpu-tiled-matmul.ts';
import { currentGpu, matmulChoice } from './webgpu.ts';

export interface MatmulPath {
  /**
   * WebGPU: `tiled` or `subgroup-matrix`. CPU backends (cpu-kernels/cpu-matmul-path.ts): our GEMM kernels
   * (`wasm-relaxed-simd`, `wasm-simd128`) or `tfjs` (tfjs's own matMul, the path before them).
   */
  kernel: 'tiled' | 'subgroup-matrix' | CpuMatmulPath['kernel'];
  reason: string;
  /** The self-test's worst max |ours − tiled| / max |tiled| over its products, when it ran. */
  selfTestMaxDiff?: number;
}

let selected: MatmulPath | undefined;

/** The path chosen by selectMatmulPath (the tiled kernel until that has run). */
export function matmulPath(): MatmulPath {
  if (selected) return selected;
  return backendInfo()?.name === 'webgpu' ? { kernel: 'tiled', reason: 'not selected yet' } : cpuMatmulPath();
}

/**
 * Relative agreement the self-test asks of subgroup matrices against the f32 tiled kernel. Operands rounded to f16
 * (11 significant bits) give ~5e-4 relative error per product term; 1e-2 leaves room for long sums and still fails a
 * wrong layout, tile offset or scale by orders of magnitude.
 */
const SELF_TEST_TOLERANCE = 1e-2;

type Product = (a: tf.Tensor2D, m: GpuPackedMatrix, direction: MatmulDirection) => tf.Tensor2D;

/** [n, rows, cols, dtype]: ragged against every tile size, a short last block, the modes a user trains with. */
const SELF_TEST_CASES: [number, number, number, BaseDtype][] = [
  [37, 72, 40, 'f16'],
  [37, 72, 40, 'int8'],
  [5, 33, 96, 'nf4'],
];

/**
 * Run `candidate` and `reference` on the self-test products (forward and backward each) and report the worst
 * relative difference; `ok` when it is within the tolerance (and finite).
 */
export async function compareKernels(
  candidate: Product,
  reference: Product = tiledProduct,
  tolerance = SELF_TEST_TOLERANCE,
): Promise<{ ok: boolean; maxDiff: number; worst: string }> {
  let maxDiff = 0;
  let worst = '';
  for (const [n, rows, cols, dtype] of SELF_TEST_CASES) {
    const values = (await tf.randomNormal([rows, cols], 0, 0.05, 'float32', rows + cols).data()) as Float32Array;
    const m = packForGpu(storeMatrix(values, rows, cols, dtype));
    for (const direction of ['forward', 'backward'] as const) {
      const inner = direction === 'forward' ? cols : rows;
      const d = tf.tidy(() => {
        const a = tf.randomNormal([n, inner], 0, 1, 'float32', n + inner) as tf.Tensor2D;
        const want = reference(a, m, direction);
        return tf.div(tf.max(tf.abs(tf.sub(candidate(a, m, direction), want))), tf.max(tf.abs(want)));
      });
      const diff = (await d.data())[0];
      d.dispose();
      const value = Number.isFinite(diff) ? diff : Infinity;
      if (value >= maxDiff) [maxDiff, worst] = [value, `${dtype} ${direction} ${n}×${rows}×${cols}`];
    }
    disposePacked(m);
  }
  return { ok: maxDiff <= tolerance, maxDiff, worst };
}

/** Choose the kernel for this process (once; later calls return the first answer) and switch packed products to it. */
export async function selectMatmulPath(): Promise<MatmulPath> {
  if (selected) return selected;
  const choice = matmulChoice();
  if (backendInfo()?.name !== 'webgpu') return (selected = cpuMatmulPath());
  if (choice === 'tiled') return (selected = { kernel: 'tiled', reason: 'LORA_STUDIO_MATMUL=tiled' });
  const refuse = (why: string) => {
    if (choice === 'subgroup-matrix')
      throw new StudioError(
        `LORA_STUDIO_MATMUL=subgroup-matrix, but ${why}; use auto or tiled`,
        undefined,
        'webgpu/subgroup-matrix-unavailable',
      );
    return (selected = { kernel: 'tiled', reason: `subgroup matrices not used: ${why}` });
  };
  const gpu = currentGpu();
  if (!gpu) return refuse('the WebGPU device was not made by this process');
  const info = gpu.adapter.info as GPUAdapterInfo & {
    subgroupMatrixConfigs?: SubgroupMatrixConfigLike[];
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const chosen = chooseSubgroupSetup(gpu.device.features as ReadonlySet<string>, info.subgroupMatrixConfigs, info.subgroupMaxSize);
  if ('reason' in chosen) return refuse(chosen.reason);
  // The larger workgroup first; a failure there (e.g. subgroups not laid out as assumed) still lets one subgroup try.
  const failures: string[] = [];
  for (const setup of subgroupCandidates(chosen.setup, info.subgroupMinSize, gpu.device.limits)) {
    const config = `f16 ${setup.M}×${setup.N}×${setup.K}, subgroup ${setup.subgroupSize} × ${setup.subgroups} a workgroup`;
    const test = await selfTest(gpu.device, setup);
    const diff = test.maxDiff.toExponential(2);
    if (test.error) failures.push(`with ${config} the self-test's kernels did not compile or run (${test.error})`);
    else if (!test.ok)
      failures.push(`self-test failed with ${config} (max relative difference ${diff} on ${test.worst}, over ${SELF_TEST_TOLERANCE})`);
    else {
      useSubgroupMatrices(setup);
      const earlier = failures.length ? `; ${failures.join('; ')}` : '';
      return (selected = {
        kernel: 'subgroup-matrix',
        reason: `self-test passed (max relative difference ${diff}) with config ${config}${earlier}`,
        selfTestMaxDiff: test.maxDiff,
      });
    }
  }
  return refuse(failures.join('; '));
}

/** The self-test, with the device's validation errors (a shader the driver rejects) caught rather than printed. */
async function selfTest(device: GPUDevice, setup: SubgroupSetup): Promise<{ ok: boolean; maxDiff: number; worst: string; error?: string }> {
  device.pushErrorScope('validation');
  device.pushErrorScope('internal');
  let result: { ok: boolean; maxDiff: number; worst: string } = { ok: false, maxDiff: Infinity, worst: '' };
  let thrown: string | undefined;
  try {
    result = await compareKernels((a, m, direction) => subgroupProduct(a, m, direction, setup));
  } catch (e) {
    thrown = (e as Error).message.split('\n')[0];
  }
  const internal = await device.popErrorScope();
  const validation = await device.popErrorScope();
  const error = thrown ?? validation?.message.split('\n')[0] ?? internal?.message.split('\n')[0];
  return { ...result, error };
}

/** For tests: forget the choice, back to the tiled kernel. */
export function resetMatmulPath(): void {
  selected = undefined;
  useSubgroupMatrices(undefined);
}
