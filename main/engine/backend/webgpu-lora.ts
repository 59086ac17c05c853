import * as tf from '@tensorflow/tfjs';
import { runProgram, type ProgramUniform, type WebGpuProgram } from './webgpu-program.ts';

/**
 * The LoRA path's second product with its scale and the residual add, y = base + scale·u·Bᵀ, as one WGSL kernel
 * (u = dropout(x)·Aᵀ [N, r] stays a tfjs matMul), where tfjs runs matMul, mul and add. Backward, two kernels:
 *   dBᵀ = scale·uᵀ·dy [r, out],  du = scale·dy·B [N, r],  and dy passes to base unchanged (a reshape, no dispatch).
 * r is small (8–64), so r is baked into the shader: the loops over it unroll, and a thread's partial sums stay in
 * registers. Rows of Bᵀ, base, y and dy are read and written as vec4, so out must be a multiple of 4.
 */

const WORKGROUP = 64;
/** Rows of y per thread in the forward kernel: each vec4 of Bᵀ read serves this many rows. */
const ROWS_PER_THREAD = 4;
/** Largest r the kernels take (the unrolled loops and register arrays grow with it). */
const MAX_LORA_RANK = 64;

/** Whether the fused kernels can take this module: out a multiple of 4, r at most MAX_LORA_RANK. */
export function fusedLoraFits(r: number, out: number): boolean {
  return out % 4 === 0 && r <= MAX_LORA_RANK;
}

function program(
  name: string,
  r: number,
  inputs: string[],
  components: number[],
  outputShape: number[],
  outputComponent: number,
  dispatch: [number, number, number],
  body: string,
): WebGpuProgram {
  return {
    variableNames: inputs,
    variableComponents: components,
    outputComponent,
    outputShape,
    shaderKey: `${name}-r${r}`,
    dispatchLayout: { x: [1], y: [0] }, // main() reads globalId itself
    dispatch,
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: 'scale : f32,',
    getUserCode: () => `
      const R = ${r};
      fn main() {
        ${body}
      }`,
  };
}

/** y [N, out] = base + scale·u·Bᵀ: a thread makes a 4-row × vec4 tile, reading each vec4 of Bᵀ once for 4 rows. */
function forwardProgram(n: number, r: number, out: number): WebGpuProgram {
  const cols4 = out / 4;
  return program(
    'lora-studio-lora-up',
    r,
    ['Base', 'U', 'BT'],
    [4, 1, 4],
    [n, out],
    4,
    [Math.ceil(cols4 / WORKGROUP), Math.ceil(n / ROWS_PER_THREAD), 1],
    `
        let o4 = i32(globalId.x);
        let n0 = i32(globalId.y) * ${ROWS_PER_THREAD};
        let rows = uniforms.outShape[0];
        let cols4 = uniforms.outShape[1] / 4;
        if (o4 >= cols4) { return; }
        var acc : array<vec4<f32>, ${ROWS_PER_THREAD}>;
        for (var k = 0; k < R; k++) {
          let b = BT[k * cols4 + o4];
          for (var i = 0; i < ${ROWS_PER_THREAD}; i++) {
            acc[i] += U[min(n0 + i, rows - 1) * R + k] * b; // rows past the end read the last row, and are not written
          }
        }
        for (var i = 0; i < ${ROWS_PER_THREAD}; i++) {
          let n = n0 + i;
          if (n < rows) { result[n * cols4 + o4] = Base[n * cols4 + o4] + uniforms.scale * acc[i]; }
        }`,
  );
}

/** du [N, r] = scale·dy·B: a thread per (n, k), a dot product of dy's row and Bᵀ's row k, vec4 at a time. */
function duProgram(n: number, r: number): WebGpuProgram {
  return program(
    'lora-studio-lora-du',
    r,
    ['Dy', 'BT'],
    [4, 4],
    [n, r],
    1,
    [Math.ceil((n * r) / WORKGROUP), 1, 1],
    `
        let index = i32(globalId.x);
        let rows = uniforms.outShape[0];
        if (index >= rows * R) { return; }
        let row = index / R;
        let k = index % R;
        let cols4 = uniforms.dyShape[1] / 4;
        var acc = 0.0;
        for (var o4 = 0; o4 < cols4; o4++) { acc += dot(Dy[row * cols4 + o4], BT[k * cols4 + o4]); }
        result[index] = uniforms.scale * acc;`,
  );
}

/** dBᵀ [r, out] = scale·uᵀ·dy: a thread per (k, vec4 of columns), summing over the N rows. */
function dbProgram(r: number, out: number): WebGpuProgram {
  const cols4 = out / 4;
  return program(
    'lora-studio-lora-db',
    r,
    ['U', 'Dy'],
    [1, 4],
    [r, out],
    4,
    [Math.ceil(cols4 / WORKGROUP), r, 1],
    `
        let o4 = i32(globalId.x);
        let k = i32(globalId.y);
        let cols4 = uniforms.outShape[1] / 4;
        if (o4 >= cols4) { return; }
        let rows = uniforms.dyShape[0];
        var acc = vec4<f32>(0.0);
        for (var row = 0; row < rows; row++) { acc += U[row * R + k] * Dy[row * cols4 + o4]; }
        result[k * cols4 + o4] = uniforms.scale * acc;`,
  );
}

/**
 * base [N, out] + scale·u [N, r]·Bᵀ [r, out] in one kernel, with gradients for all three inputs (see above).
 * Call only where fusedLoraFits(r, out).
 */
export function fusedLoraUp(base: tf.Tensor2D, u: tf.Tensor2D, bT: tf.Tensor2D, scale: number): tf.Tensor2D {
  const [n, r] = u.shape;
  const out = bT.shape[1];
  const uniforms: ProgramUniform[] = [{ type: 'float32', data: [scale] }];
  const op = tf.customGrad((...args) => {
    const [b, us, bs] = args as tf.Tensor2D[];
    const save = args[3] as unknown as tf.GradSaveFunc;
    save([us, bs]);
    return {
      value: runProgram<tf.Tensor2D>(forwardProgram(n, r, out), [b, us, bs], uniforms),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.reshape(dy, dy.shape), // base's gradient is dy itself: a new handle on the same buffer, no dispatch
        runProgram(duProgram(n, r), [dy, saved[1]], uniforms),
        runProgram(dbProgram(r, out), [saved[0], dy], uniforms),
      ],
    };
  });
  return op(base, u, bT) as tf.Tensor2D;
}
