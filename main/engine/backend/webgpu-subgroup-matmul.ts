// The packed matmul on subgroup matrices (Dawn's `chromium-experimental-subgroup-matrix`: tensor cores through
// Vulkan's VK_KHR_cooperative_matrix, or Apple7+ simdgroup matrices): f16 operands, f32 accumulation. Same products,
// same inputs and uniforms as the tiled kernel (webgpu-tiled-matmul.ts), plus a per-row scale of A.
//
// WGSL per Dawn's extension: subgroup_matrix_left<T, K, M> is M rows × K columns, _right<T, N, K> is K × N,
// _result<T, N, M> is M × N; subgroupMatrixLoad<type, row_major|col_major>(ptr, offset, stride) and
// subgroupMatrixStore<row_major>(ptr, offset, value, stride) count offsets and strides in elements.

import type { BaseDtype } from '../llama/base-dtype-names.ts';
import { dequantWgsl, hasScales } from './webgpu-dequant-wgsl.ts';
import { emulatedOps } from './webgpu-subgroup-emulation.ts';
import type { WebGpuProgram } from './webgpu-program.ts';
import { productShape, type MatmulDirection, type PackedShape } from './webgpu-tiled-matmul.ts';

/** One adapter config (M×K times K×N, f16 in, f32 out) and the workgroup built for it. */
export interface SubgroupSetup {
  M: number;
  N: number;
  K: number;
  /** adapter.info.subgroupMaxSize: a subgroup-matrix workgroup's x size must be a multiple of it. */
  subgroupSize: number;
  /**
   * Subgroups per workgroup: 1, or 4 in a 2×2 grid sharing larger staged tiles (twice the reuse of each staged value).
   * With 4, subgroup s is taken to be invocations [s·subgroupSize, (s+1)·subgroupSize), which holds only where the
   * subgroup size is fixed (subgroupMinSize = subgroupMaxSize); the self-test checks it on the device.
   */
  subgroups: 1 | 4;
}

/** What adapter.info offers (dawn.node's GPUAdapterInfo with the experimental fields). */
export interface SubgroupMatrixConfigLike {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

/** Features the device needs for this path (f16 for the operand type, subgroups for the matrices' scope). */
export const SUBGROUP_MATRIX_FEATURES = [SUBGROUP_MATRIX_FEATURE, 'subgroups', 'shader-f16'] as const;

/** Each subgroup computes a TILES_M × TILES_N grid of result matrices: 4 accumulators, few registers. */
const TILES_M = 2;
const TILES_N = 2;
/** Inner steps per staged tile: two matrix multiplies per barrier pair. */
const STEPS_K = 2;

/**
 * Pick the f16 × f16 → f32 config with the most multiply-adds per instruction, or say why there is none:
 * a missing feature, no such config, or a subgroup size the workgroup cannot be built for.
 */
export function chooseSubgroupSetup(
  features: ReadonlySet<string> | string[],
  configs: readonly SubgroupMatrixConfigLike[] | undefined,
  subgroupMaxSize: number | undefined,
): { setup: SubgroupSetup } | { reason: string } {
  const has = (f: string) => (Array.isArray(features) ? features.includes(f) : features.has(f));
  const missing = SUBGROUP_MATRIX_FEATURES.filter((f) => !has(f));
  if (missing.length) return { reason: `the adapter lacks ${missing.join(', ')}` };
  const all = configs ?? [];
  const usable = all
    .filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32')
    .sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K);
  const list = all.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}×${c.N}×${c.K}`).join(', ') || 'none';
  if (!usable.length) return { reason: `no usable subgroup-matrix config (f16 → f32) among the adapter's: ${list}` };
  if (!subgroupMaxSize || subgroupMaxSize > 256)
    return { reason: `unusable subgroup size (subgroupMaxSize ${subgroupMaxSize ?? 'not reported'})` };
  const { M, N, K } = usable[0];
  return { setup: { M, N, K, subgroupSize: subgroupMaxSize, subgroups: 1 } };
}

/** Workgroup memory a setup's program declares: the staged f16 tiles and the f32 result tile. */
export function subgroupWorkgroupBytes(s: SubgroupSetup): number {
  const { bm, bn, bk } = tileSizes(s);
  return 2 * (bm * bk + bn * bk) + 4 * bm * bn;
}

/**
 * The setups to try, best first: four subgroups a workgroup where the subgroup size is fixed and the device allows the
 * workgroup (invocations, workgroup memory), then one.
 */
export function subgroupCandidates(
  base: SubgroupSetup,
  subgroupMinSize: number | undefined,
  limits: { maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number },
): SubgroupSetup[] {
  const four: SubgroupSetup = { ...base, subgroups: 4 };
  const fits =
    subgroupMinSize === base.subgroupSize &&
    subgroupWorkgroupBytes(four) <= limits.maxComputeWorkgroupStorageSize &&
    4 * base.subgroupSize <= limits.maxComputeInvocationsPerWorkgroup;
  return fits ? [four, { ...base, subgroups: 1 }] : [{ ...base, subgroups: 1 }];
}

/** Rows and columns of subgroups in a workgroup (2×2 for 4). */
const grid = (s: SubgroupSetup) => (s.subgroups === 4 ? { rows: 2, cols: 2 } : { rows: 1, cols: 1 });

function tileSizes(s: SubgroupSetup) {
  const g = grid(s);
  return { bm: g.rows * TILES_M * s.M, bn: g.cols * TILES_N * s.N, bk: STEPS_K * s.K, threads: s.subgroups * s.subgroupSize };
}

/**
 * How the kernel spells its matrix operations: Dawn's builtins, or a software emulation with the same semantics
 * (webgpu-subgroup-emulation.ts) that any adapter runs, so the kernel's tiling and offsets are tested on SwiftShader.
 */
export interface MatrixOps {
  enables: string;
  /** Declarations the operations need. */
  prelude: string;
  /** Element type of the staged tiles, and the conversion to it. */
  staged: 'f16' | 'f32';
  toStaged(x: string): string;
  /** The result type (its zero-argument constructor is the zero matrix). */
  result: string;
  loadLeft(offset: string, stride: number): string;
  loadRight(offset: string, stride: number, colMajor: boolean): string;
  mma(left: string, right: string, acc: string): string;
  store(offset: string, acc: string, stride: number): string;
}

function nativeOps(s: SubgroupSetup): MatrixOps {
  const left = `subgroup_matrix_left<f16, ${s.K}, ${s.M}>`;
  const right = `subgroup_matrix_right<f16, ${s.N}, ${s.K}>`;
  return {
    // With several subgroups, matrix offsets depend on the subgroup index (from localIndex), which WGSL's analysis can
    // only see as non-uniform, though it is uniform within each subgroup.
    enables: `enable f16;\nenable chromium_experimental_subgroup_matrix;${s.subgroups > 1 ? '\ndiagnostic(off, chromium.subgroup_matrix_uniformity);' : ''}`,
    prelude: '',
    staged: 'f16',
    toStaged: (x) => `f16(${x})`,
    result: `subgroup_matrix_result<f32, ${s.N}, ${s.M}>`,
    loadLeft: (offset, stride) => `subgroupMatrixLoad<${left}, row_major>(&As, ${offset}, ${stride}u)`,
    loadRight: (offset, stride, colMajor) =>
      `subgroupMatrixLoad<${right}, ${colMajor ? 'col_major' : 'row_major'}>(&Bs, ${offset}, ${stride}u)`,
    mma: (l, r, acc) => `subgroupMatrixMultiplyAccumulate(${l}, ${r}, ${acc})`,
    store: (offset, acc, stride) => `subgroupMatrixStore<row_major>(&Cs, ${offset}, ${acc}, ${stride}u)`,
  };
}

/** Inputs: A [n, inner] f32, R [n] (absmax of each row of A), W, S (quantized modes). `emulate`: see MatrixOps. */
export function subgroupMatmulProgram(
  n: number,
  m: PackedShape,
  direction: MatmulDirection,
  s: SubgroupSetup,
  emulate = false,
): WebGpuProgram {
  const { width } = productShape(m, direction);
  const { bm, bn, threads } = tileSizes(s);
  const ops = emulate ? emulatedOps(s) : nativeOps(s);
  return {
    variableNames: hasScales(m.dtype) ? ['A', 'R', 'W', 'S'] : ['A', 'R', 'W'],
    outputShape: [n, width],
    shaderKey: `lora-studio-packed-subgroup-${m.dtype}-${direction}-${s.M}x${s.N}x${s.K}-${s.subgroupSize}x${s.subgroups}${emulate ? '-emulated' : ''}`,
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(width / bn), Math.ceil(n / bm), 1],
    workgroupSize: [threads, 1, 1],
    uniforms: 'rows : i32, cols : i32,',
    enables: ops.enables || undefined,
    getUserCode: () => subgroupSource(m.dtype, direction, s, ops),
  };
}

function subgroupSource(dtype: BaseDtype, direction: MatmulDirection, s: SubgroupSetup, ops: MatrixOps): string {
  const { bm, bn, bk, threads } = tileSizes(s);
  const { cols: gridCols } = grid(s);
  // This subgroup's first row and column of the workgroup tile (0 with one subgroup).
  const sgRow = s.subgroups > 1 ? `(sg / ${gridCols}u) * ${TILES_M * s.M}u` : '0u';
  const sgCol = s.subgroups > 1 ? `(sg % ${gridCols}u) * ${TILES_N * s.N}u` : '0u';
  const tiles = Array.from({ length: TILES_M * TILES_N }, (_, t) => ({ t, i: Math.floor(t / TILES_N), j: t % TILES_N }));
  // Bs holds B(k, j) = forward W[n0 + j][k0 + k] as [bn][bk] (B column-major: W's rows stay contiguous), backward
  // W[k0 + k][n0 + j] as [bk][bn] (row-major).
  const stageB =
    direction === 'forward'
      ? `for (var e = t; e < ${bn * bk}; e = e + ${threads}) {
            let row = n0 + e / ${bk};
            let k = k0 + e % ${bk};
            var w = 0.0;
            if (row < uniforms.rows && k < uniforms.cols) { w = loadW(row * uniforms.cols + k); }
            Bs[e] = ${ops.toStaged('w')};
          }`
      : `for (var e = t; e < ${bn * bk}; e = e + ${threads}) {
            let row = k0 + e / ${bn};
            let col = n0 + e % ${bn};
            var w = 0.0;
            if (row < uniforms.rows && col < uniforms.cols) { w = loadW(row * uniforms.cols + col); }
            Bs[e] = ${ops.toStaged('w')};
          }`;
  const loadRight = (j: number) =>
    direction === 'forward'
      ? ops.loadRight(`(${sgCol} + ${j * s.N}u) * ${bk}u + ks`, bk, true)
      : ops.loadRight(`ks * ${bn}u + ${sgCol} + ${j * s.N}u`, bn, false);
  return `
      var<workgroup> As : array<${ops.staged}, ${bm * bk}>; // [bm][bk]
      var<workgroup> Bs : array<${ops.staged}, ${bn * bk}>;
      var<workgroup> Cs : array<f32, ${bm * bn}>; // [bm][bn]
      ${ops.prelude}
      ${dequantWgsl(dtype)}
      fn rowScale(m : i32) -> f32 { let r = R[m]; return select(1.0, r, r > 0.0); }
      fn main() {
        // Every call below runs in workgroup-uniform control flow (loop bounds from uniforms and constants). With one
        // subgroup a workgroup, a device that splits it into smaller subgroups has each compute the same tile: correct.
        let t = i32(localIndex);
        ${s.subgroups > 1 ? `let sg = localIndex / ${s.subgroupSize}u; // this invocation's subgroup (see SubgroupSetup.subgroups)` : ''}
        let M = uniforms.aShape[0];
        let K = uniforms.aShape[1];
        let width = uniforms.outShape[1];
        let m0 = i32(workgroupId.y) * ${bm};
        let n0 = i32(workgroupId.x) * ${bn};
        ${tiles.map(({ t }) => `var acc${t} = ${ops.result}();`).join('\n        ')}
        for (var k0 = 0; k0 < K; k0 = k0 + ${bk}) {
          for (var e = t; e < ${bm * bk}; e = e + ${threads}) {
            let m = m0 + e / ${bk};
            let k = k0 + e % ${bk};
            var a = 0.0;
            if (m < M && k < K) { a = A[m * K + k] / rowScale(m); }
            As[e] = ${ops.toStaged('a')};
          }
          ${stageB}
          workgroupBarrier();
          for (var ks = 0u; ks < ${bk}u; ks = ks + ${s.K}u) {
            ${Array.from({ length: TILES_M }, (_, i) => `let l${i} = ${ops.loadLeft(`(${sgRow} + ${i * s.M}u) * ${bk}u + ks`, bk)};`).join('\n            ')}
            ${Array.from({ length: TILES_N }, (_, j) => `let r${j} = ${loadRight(j)};`).join('\n            ')}
            ${tiles.map(({ t, i, j }) => `acc${t} = ${ops.mma(`l${i}`, `r${j}`, `acc${t}`)};`).join('\n            ')}
          }
          workgroupBarrier();
        }
        ${tiles.map(({ t, i, j }) => `${ops.store(`(${sgRow} + ${i * s.M}u) * ${bn}u + ${sgCol} + ${j * s.N}u`, `acc${t}`, bn)};`).join('\n        ')}
        workgroupBarrier();
        for (var e = t; e < ${bm * bn}; e = e + ${threads}) {
          let m = m0 + e / ${bn};
          let col = n0 + e % ${bn};
          if (m < M && col < width) { setOutputAtCoords(m, col, Cs[e] * rowScale(m)); }
        }
      }`;
}
