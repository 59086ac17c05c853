// The register-tiled WGSL matmul over a packed frozen matrix W [rows, cols] (any storage mode), in either direction:
//   forward  (x·Wᵀ): out [n, rows] = A [n, cols] · Wᵀ,  B(k, j) = W[j][k]  (W read along its rows);
//   backward (dy·W): out [n, cols] = A [n, rows] · W,   B(k, j) = W[k][j].
// One generator for every mode and both directions: only the weight decoding (webgpu-dequant-wgsl.ts) and the way the
// B tile is staged differ.

import type { BaseDtype } from '../llama/base-dtype-names.ts';
import { dequantWgsl, hasScales } from './webgpu-dequant-wgsl.ts';
import type { WebGpuProgram } from './webgpu-program.ts';

export type MatmulDirection = 'forward' | 'backward';

/** What a packed-matmul program needs to know of W (the same fields as GpuPackedMatrix, kept free of tfjs here). */
export interface PackedShape {
  dtype: BaseDtype;
  rows: number;
  cols: number;
}

// Tile sizes. A workgroup of 16×16 threads computes a 64×64 output tile, each thread a 4×4 block of it in registers:
// 16 multiply-adds per pair of shared-memory reads instead of 1, the usual first step of GPU GEMM tuning. BK = 16 keeps
// both staged tiles at 64×16 floats, exactly one vec4 per thread each, and the two tiles at 8 KiB (well under the
// 16 KiB of workgroup memory every WebGPU adapter must offer).
const BM = 64;
const BN = 64;
const BK = 16;
const THREADS = 16; // per side: BM / 4 = BN / 4
const PER_THREAD = 4;

/** The inner (reduced) size and the output width of a direction. */
export function productShape(m: PackedShape, direction: MatmulDirection): { inner: number; width: number } {
  return direction === 'forward' ? { inner: m.cols, width: m.rows } : { inner: m.rows, width: m.cols };
}

/**
 * Whether whole groups of 4 can be loaded: the activations' rows and W's rows (forward) or columns (backward) must start
 * on multiples of 4 for vec4 loads of A and for loadW4 on W. Every LLaMA width is; ragged test shapes use scalar loads.
 */
function canVectorize(m: PackedShape, direction: MatmulDirection): boolean {
  return m.cols % 4 === 0 && (direction === 'forward' || m.rows % 4 === 0);
}

/** The program; inputs are [A, W] plus S for quantized modes; uniforms `rows, cols` of W (data is a flat word array). */
export function tiledMatmulProgram(n: number, m: PackedShape, direction: MatmulDirection): WebGpuProgram {
  const { width } = productShape(m, direction);
  const vec = canVectorize(m, direction);
  return {
    variableNames: hasScales(m.dtype) ? ['A', 'W', 'S'] : ['A', 'W'],
    variableComponents: hasScales(m.dtype) ? [vec ? 4 : 1, 1, 1] : [vec ? 4 : 1, 1],
    outputShape: [n, width],
    shaderKey: `lora-studio-packed-tiled-${m.dtype}-${direction}-${vec ? 'vec4' : 'scalar'}`,
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(width / BN), Math.ceil(n / BM), 1],
    workgroupSize: [THREADS, THREADS, 1],
    uniforms: 'rows : i32, cols : i32,',
    getUserCode: () => tiledSource(m.dtype, direction, vec),
  };
}

/** Uniform values for tiledMatmulProgram (and the subgroup-matrix program, which shares them). */
export const shapeUniforms = (m: PackedShape) => [
  { type: 'int32' as const, data: [m.rows] },
  { type: 'int32' as const, data: [m.cols] },
];

function tiledSource(dtype: BaseDtype, direction: MatmulDirection, vec: boolean): string {
  // A tile [BM][BK]: thread t stages row t / 4, inner offset 4·(t % 4).
  const stageA = vec
    ? `if (m < M && k < K) { v = A[(m * K + k) / 4]; }`
    : `for (var e = 0; e < 4; e = e + 1) { if (m < M && k + e < K) { v[e] = A[m * K + k + e]; } }`;
  // B tile [BK][BN] (as vec4 columns): forward reads 4 consecutive k of W's row j; backward 4 consecutive j of row k.
  const stageB =
    direction === 'forward'
      ? `{
          let j = t >> 2;
          let kk = (t & 3) * 4;
          let row = n0 + j;
          let k = k0 + kk;
          var w = vec4<f32>(0.0);
          ${
            vec
              ? `if (row < uniforms.rows && k < uniforms.cols) { w = loadW4(row * uniforms.cols + k); }`
              : `for (var e = 0; e < 4; e = e + 1) { if (row < uniforms.rows && k + e < uniforms.cols) { w[e] = loadW(row * uniforms.cols + k + e); } }`
          }
          for (var e = 0; e < 4; e = e + 1) { Bs[kk + e][j >> 2][j & 3] = w[e]; }
        }`
      : `{
          let kk = t >> 4;
          let jq = t & 15;
          let row = k0 + kk;
          let col = n0 + 4 * jq;
          var w = vec4<f32>(0.0);
          ${
            vec
              ? `if (row < uniforms.rows && col < uniforms.cols) { w = loadW4(row * uniforms.cols + col); }`
              : `for (var e = 0; e < 4; e = e + 1) { if (row < uniforms.rows && col + e < uniforms.cols) { w[e] = loadW(row * uniforms.cols + col + e); } }`
          }
          Bs[kk][jq] = w;
        }`;
  const rowsOfThread = Array.from({ length: PER_THREAD }, (_, i) => i);
  return `
      var<workgroup> As : array<array<f32, ${BK}>, ${BM}>;
      var<workgroup> Bs : array<array<vec4<f32>, ${BN / 4}>, ${BK}>;
      ${dequantWgsl(dtype)}
      fn main() {
        let t = i32(localIndex);
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let M = uniforms.aShape[0];
        let K = uniforms.aShape[1];
        let width = uniforms.outShape[1];
        let m0 = i32(workgroupId.y) * ${BM};
        let n0 = i32(workgroupId.x) * ${BN};
        var acc : array<vec4<f32>, ${PER_THREAD}>; // rows m0 + 4·ty + i, columns n0 + 4·tx .. + 3
        for (var k0 = 0; k0 < K; k0 = k0 + ${BK}) {
          {
            let r = t >> 2;
            let kk = (t & 3) * 4;
            let m = m0 + r;
            let k = k0 + kk;
            var v = vec4<f32>(0.0);
            ${stageA}
            As[r][kk] = v.x;
            As[r][kk + 1] = v.y;
            As[r][kk + 2] = v.z;
            As[r][kk + 3] = v.w;
          }
          ${stageB}
          workgroupBarrier();
          for (var k = 0; k < ${BK}; k = k + 1) {
            let b = Bs[k][tx];
            ${rowsOfThread.map((i) => `acc[${i}] = fma(vec4<f32>(As[4 * ty + ${i}][k]), b, acc[${i}]);`).join('\n            ')}
          }
          workgroupBarrier();
        }
        for (var i = 0; i < ${PER_THREAD}; i = i + 1) {
          let m = m0 + 4 * ty + i;
          for (var j = 0; j < 4; j = j + 1) {
            let col = n0 + 4 * tx + j;
            if (m < M && col < width) { setOutputAtCoords(m, col, acc[i][j]); }
          }
        }
      }`;
}
