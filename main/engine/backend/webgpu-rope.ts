import * as tf from '@tensorflow/tfjs';
import { runProgram, type WebGpuProgram } from './webgpu-program.ts';

/**
 * Rotary embeddings in HF's rotate-half layout as one WGSL kernel forward and one backward. tfjs runs the plain
 * form (model/rope.ts applyRope: split, neg, concat, two muls, an add) as 6 dispatches forward and more backward,
 * after the transpose that puts the projection's output into heads. Here the head transpose is folded in too:
 * the kernel reads the projection's output [B·T, H·D] and writes [B, H, T, D] directly.
 *
 *   out[d] = x[d]·cos[t, d] + sign(d)·x[p(d)]·sin[t, d],   p(d) = d ± D/2 (the other half), sign = −1 on the first half.
 *
 * Its gradient is the inverse rotation, read from dy [B, H, T, D] and written back as [B·T, H·D]:
 *   dx[d] = dy[d]·cos[t, d] − sign(d)·dy[p(d)]·sin[t, p(d)].
 */

const WORKGROUP = 64;

/** Index helpers shared by both directions: d, its partner p(d) and sign(d). */
const HALVES = `
      fn partner(d : i32, dim : i32) -> i32 { return select(d - dim / 2, d + dim / 2, d < dim / 2); }
      fn rotationSign(d : i32, dim : i32) -> f32 { return select(1.0, -1.0, d < dim / 2); }`;

function ropeProgram(name: string, outputShape: number[], inputs: string[], body: string): WebGpuProgram {
  const size = outputShape.reduce((a, b) => a * b, 1);
  return {
    variableNames: inputs,
    outputShape,
    shaderKey: name,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    getUserCode: () => `${HALVES}
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let dim = uniforms.cosShape[1];
        let time = uniforms.cosShape[0];
        ${body}
      }`,
  };
}

/** out [B, H, T, D] from x [B·T, H·D]: thread per output element. */
function forwardProgram(B: number, H: number, T: number, D: number): WebGpuProgram {
  return ropeProgram(
    'lora-studio-rope',
    [B, H, T, D],
    ['X', 'Cos', 'Sin'],
    `
        let d = index % dim;
        let t = (index / dim) % time;
        let heads = uniforms.xShape[1] / dim;
        let h = (index / (dim * time)) % heads;
        let b = index / (dim * time * heads);
        let src = (b * time + t) * uniforms.xShape[1] + h * dim; // row b·T + t, column h·D of x
        let p = partner(d, dim);
        result[index] = X[src + d] * Cos[t * dim + d] + rotationSign(d, dim) * X[src + p] * Sin[t * dim + d];`,
  );
}

/** dx [B·T, H·D] from dy [B, H, T, D]: thread per element of dx. */
function backwardProgram(rows: number, cols: number): WebGpuProgram {
  return ropeProgram(
    'lora-studio-rope-grad',
    [rows, cols],
    ['Dy', 'Cos', 'Sin'],
    `
        let d = index % dim;
        let h = (index % uniforms.outShape[1]) / dim;
        let r = index / uniforms.outShape[1];
        let t = r % time;
        let b = r / time;
        let heads = uniforms.outShape[1] / dim;
        let src = ((b * heads + h) * time + t) * dim; // dy[b, h, t, :]
        let p = partner(d, dim);
        result[index] = Dy[src + d] * Cos[t * dim + d] - rotationSign(d, dim) * Dy[src + p] * Sin[t * dim + p];`,
  );
}

/**
 * RoPE applied to a projection's output x [B·T, heads·D] with tables [T, D] (model/rope.ts ropeTables), returned
 * as heads [B, heads, T, D]: what applyRope(toHeads(x)) computes, in one dispatch each way. The tables get no gradient.
 */
export function fusedRopeHeads(x: tf.Tensor2D, batch: number, heads: number, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const [T, D] = cos.shape;
  const op = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor2D;
    const save = args[args.length - 1] as unknown as tf.GradSaveFunc;
    save([cos, sin]); // the model's forward scope frees its tables before the backward runs
    return {
      value: runProgram<tf.Tensor4D>(forwardProgram(batch, heads, T, D), [input, cos, sin]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runProgram(backwardProgram(batch * T, heads * D), [dy, saved[0], saved[1]]),
    };
  });
  return op(x) as tf.Tensor4D;
}
