import * as tf from '@tensorflow/tfjs';
import { encodeFromF32 } from '../formats/dtypes.ts';
import { runProgram, type WebGpuProgram } from './webgpu-program.ts';

/**
 * Frozen weights in 16-bit storage on a WebGPU device: W [out, in] as IEEE halves packed two to a 32-bit word
 * (an int32 tensor [out, in/2]; the low half is the even column). The kernels unpack with WGSL's core
 * `unpack2x16float`, so no `shader-f16` feature is needed, and compute in f32. One packed copy serves the forward
 * pass (x·Wᵀ) and the backward (dy·W): 2 bytes per weight instead of the 8 of f32 W and Wᵀ.
 */
export interface PackedF16Matrix {
  packed: tf.Tensor2D; // int32 [out, in/2]
  out: number;
  in: number;
}

const F16_MAX = 65504;

/** Pack f32 values as halves, or undefined when a value would not survive (beyond f16's range, or an odd width). */
export function packF16(values: Float32Array, out: number, inF: number): PackedF16Matrix | undefined {
  if (inF % 2 !== 0) return undefined;
  for (let i = 0; i < values.length; i++) if (!(Math.abs(values[i]) <= F16_MAX)) return undefined;
  const bytes = encodeFromF32(values, 'F16');
  const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return { packed: tf.tensor2d(words, [out, inF / 2], 'int32'), out, in: inF };
}

const TILE = 16;

/** y [N, out] = x [N, in] · Wᵀ: a 16×16 output tile per workgroup, 32 columns of x and W staged per pass. */
function forwardProgram(n: number, m: PackedF16Matrix): WebGpuProgram {
  return {
    variableNames: ['X', 'W'],
    outputShape: [n, m.out],
    shaderKey: 'lora-studio-f16-matmul-xwt',
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(m.out / TILE), Math.ceil(n / TILE), 1],
    workgroupSize: [TILE, TILE, 1],
    getUserCode: () => `
      var<workgroup> xs : array<array<f32, ${2 * TILE}>, ${TILE}>;
      var<workgroup> ws : array<array<f32, ${2 * TILE}>, ${TILE}>;
      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let rows = uniforms.xShape[0];
        let inner = uniforms.xShape[1];
        let half = uniforms.wShape[1];
        let outs = uniforms.wShape[0];
        let row = i32(workgroupId.y) * ${TILE} + ty;
        let col = i32(workgroupId.x) * ${TILE} + tx;
        let wRow = i32(workgroupId.x) * ${TILE} + ty;
        var acc = 0.0;
        for (var k0 = 0; k0 < inner; k0 = k0 + ${2 * TILE}) {
          let k = k0 + 2 * tx;
          var xv = vec2<f32>(0.0, 0.0);
          if (row < rows && k < inner) { xv = vec2<f32>(X[row * inner + k], X[row * inner + k + 1]); }
          xs[ty][2 * tx] = xv.x;
          xs[ty][2 * tx + 1] = xv.y;
          var wv = vec2<f32>(0.0, 0.0);
          let p = k0 / 2 + tx;
          if (wRow < outs && p < half) { wv = unpack2x16float(bitcast<u32>(W[wRow * half + p])); }
          ws[ty][2 * tx] = wv.x;
          ws[ty][2 * tx + 1] = wv.y;
          workgroupBarrier();
          for (var j = 0; j < ${2 * TILE}; j = j + 1) { acc = acc + xs[ty][j] * ws[tx][j]; }
          workgroupBarrier();
        }
        if (row < rows && col < outs) { setOutputAtCoords(row, col, acc); }
      }`,
  };
}

/** dx [N, in] = dy [N, out] · W: each thread makes two adjacent columns (one packed word of W). */
function backwardProgram(n: number, m: PackedF16Matrix): WebGpuProgram {
  return {
    variableNames: ['Dy', 'W'],
    outputShape: [n, m.in],
    shaderKey: 'lora-studio-f16-matmul-dyw',
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(m.in / 2 / TILE), Math.ceil(n / TILE), 1],
    workgroupSize: [TILE, TILE, 1],
    getUserCode: () => `
      var<workgroup> dys : array<array<f32, ${TILE}>, ${TILE}>;
      var<workgroup> ws : array<array<vec2<f32>, ${TILE}>, ${TILE}>;
      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let rows = uniforms.dyShape[0];
        let outs = uniforms.dyShape[1];
        let half = uniforms.wShape[1];
        let row = i32(workgroupId.y) * ${TILE} + ty;
        let p = i32(workgroupId.x) * ${TILE} + tx;
        var acc = vec2<f32>(0.0, 0.0);
        for (var o0 = 0; o0 < outs; o0 = o0 + ${TILE}) {
          var d = 0.0;
          if (row < rows && o0 + tx < outs) { d = Dy[row * outs + o0 + tx]; }
          dys[ty][tx] = d;
          var wv = vec2<f32>(0.0, 0.0);
          if (o0 + ty < outs && p < half) { wv = unpack2x16float(bitcast<u32>(W[(o0 + ty) * half + p])); }
          ws[ty][tx] = wv;
          workgroupBarrier();
          for (var j = 0; j < ${TILE}; j = j + 1) { acc = acc + dys[ty][j] * ws[j][tx]; }
          workgroupBarrier();
        }
        if (row < rows && p < half) {
          setOutputAtCoords(row, 2 * p, acc.x);
          setOutputAtCoords(row, 2 * p + 1, acc.y);
        }
      }`,
  };
}

/** x·Wᵀ for a frozen 16-bit W: the gradient flows to x only (dx = dy·W, from the same packed copy). */
export function f16MatMul(x: tf.Tensor2D, m: PackedF16Matrix): tf.Tensor2D {
  const op = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor2D;
    return {
      value: runProgram<tf.Tensor2D>(forwardProgram(input.shape[0], m), [input, m.packed]),
      gradFunc: (dy: tf.Tensor) => runProgram(backwardProgram(dy.shape[0], m), [dy, m.packed]),
    };
  });
  return op(x) as tf.Tensor2D;
}
