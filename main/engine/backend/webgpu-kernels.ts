import * as tf from '@tensorflow/tfjs';
import { runProgram, type ProgramUniform, type WebGpuProgram as Program } from './webgpu-program.ts';

/**
 * Fused WGSL kernels for the WebGPU backend, where tfjs runs one shader per op: RMSNorm is 5 dispatches forward
 * and ~10 backward, SwiGLU 3 forward and ~8 backward. Each fused kernel is one dispatch, reads its inputs once and
 * writes one output. They run only on tfjs-backend-webgpu; every other backend keeps the plain tfjs ops, which
 * also define what the kernels must compute (the tests compare the two on the same backend).
 */

/** Threads per workgroup; rowReduce's bodies stride over a row's columns by it. */
export const WORKGROUP = 64;

/** LORA_STUDIO_FUSED_KERNELS=0 turns them off (the benchmark compares both). */
const disabled = process.env.LORA_STUDIO_FUSED_KERNELS === '0';

/** Whether the model should call the fused kernels: on tfjs-backend-webgpu, unless turned off. */
export function onWebgpu(): boolean {
  return !disabled && tf.getBackend() === 'webgpu';
}

/**
 * A workgroup per row: the threads stride over the row's columns, then a tree reduction (sum or max) in workgroup
 * memory. The first input is [rows, cols]; the output is too unless outputShape says otherwise (one value per row).
 */
export function rowReduce(
  name: string,
  inputs: string[],
  rows: number,
  cols: number,
  body: string,
  uniforms = 'eps : f32,',
  outputShape = [rows, cols],
): Program {
  return {
    variableNames: inputs,
    outputShape,
    shaderKey: `${name}-${WORKGROUP}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [rows, 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms,
    getUserCode: () => `
      var<workgroup> partial : array<vec2<f32>, ${WORKGROUP}>;
      fn reduceRow(tid : i32, value : vec2<f32>) -> vec2<f32> {
        partial[tid] = value;
        workgroupBarrier();
        for (var half = ${WORKGROUP / 2}; half > 0; half = half >> 1) {
          if (tid < half) { partial[tid] = partial[tid] + partial[tid + half]; }
          workgroupBarrier();
        }
        let total = partial[0];
        workgroupBarrier();
        return total;
      }
      fn reduceRowMax(tid : i32, value : f32) -> f32 {
        partial[tid] = vec2<f32>(value, 0.0);
        workgroupBarrier();
        for (var half = ${WORKGROUP / 2}; half > 0; half = half >> 1) {
          if (tid < half) { partial[tid] = max(partial[tid], partial[tid + half]); }
          workgroupBarrier();
        }
        let top = partial[0].x;
        workgroupBarrier();
        return top;
      }
      fn main(index : i32) {
        let row = index / ${WORKGROUP};
        let tid = i32(localId.x);
        let cols = uniforms.${inputs[0]}Shape[1];
        ${body}
      }`,
  };
}

/** y = x · rsqrt(mean(x²) + eps) · w, per row. */
function rmsNormProgram(rows: number, cols: number): Program {
  return rowReduce(
    'lora-studio-rmsnorm',
    ['x', 'w'],
    rows,
    cols,
    `
        var sq = 0.0;
        for (var c = tid; c < cols; c += ${WORKGROUP}) { let v = getX(row, c); sq += v * v; }
        let r = inverseSqrt(reduceRow(tid, vec2<f32>(sq, 0.0)).x / f32(cols) + uniforms.eps);
        for (var c = tid; c < cols; c += ${WORKGROUP}) { setOutputAtCoords(row, c, getX(row, c) * r * getW(c)); }`,
  );
}

/** dx = r·g − x·r³·mean(g·x) with g = dy·w and r = rsqrt(mean(x²) + eps): RMSNorm's gradient for x. */
function rmsNormGradProgram(rows: number, cols: number): Program {
  return rowReduce(
    'lora-studio-rmsnorm-grad',
    ['x', 'w', 'dy'],
    rows,
    cols,
    `
        var acc = vec2<f32>(0.0, 0.0);
        for (var c = tid; c < cols; c += ${WORKGROUP}) {
          let v = getX(row, c);
          acc += vec2<f32>(v * v, getDy(row, c) * getW(c) * v);
        }
        let sums = reduceRow(tid, acc) / f32(cols);
        let r = inverseSqrt(sums.x + uniforms.eps);
        let k = r * r * r * sums.y;
        for (var c = tid; c < cols; c += ${WORKGROUP}) {
          setOutputAtCoords(row, c, r * getDy(row, c) * getW(c) - getX(row, c) * k);
        }`,
  );
}

/**
 * RMSNorm of x [N, H] with a frozen weight [H] as one kernel forward and one backward. The weight gets no gradient:
 * norms are frozen in LoRA training.
 */
export function fusedRmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): tf.Tensor2D {
  const [rows, cols] = x.shape;
  const uniforms: ProgramUniform[] = [{ type: 'float32', data: [eps] }];
  const op = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor2D;
    const save = args[args.length - 1] as unknown as tf.GradSaveFunc;
    save([input]);
    return {
      value: runProgram(rmsNormProgram(rows, cols), [input, weight], uniforms) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runProgram(rmsNormGradProgram(rows, cols), [saved[0], weight, dy], uniforms),
    };
  });
  return op(x) as tf.Tensor2D;
}

/** An elementwise kernel over same-shaped [N, F] inputs, with `gate` and s = sigmoid(gate) in scope of `expression`. */
function elementwise(name: string, inputs: string[], shape: number[], expression: string): Program {
  const size = shape[0] * shape[1];
  return {
    variableNames: inputs,
    outputShape: shape,
    shaderKey: name,
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${inputs.map((n) => `let ${n.toLowerCase()} = get${n}ByOutputIndex(index);`).join('\n          ')}
          let s = 1.0 / (1.0 + exp(-gate));
          setOutputAtIndex(index, ${expression});
        }
      }`,
  };
}

/**
 * SwiGLU, silu(gate)·up, as one kernel forward and one per input backward:
 * d gate = dy·up·s·(1 + gate·(1 − s)), d up = dy·gate·s, with s = sigmoid(gate).
 */
export function fusedSwiGlu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  const shape = gate.shape;
  const op = tf.customGrad((...args) => {
    const [g, u] = args as [tf.Tensor2D, tf.Tensor2D];
    const save = args[args.length - 1] as unknown as tf.GradSaveFunc;
    save([g, u]);
    return {
      value: runProgram(elementwise('lora-studio-swiglu', ['Gate', 'Up'], shape, 'gate * s * up'), [g, u]) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        runProgram(elementwise('lora-studio-swiglu-dgate', ['Gate', 'Up', 'Dy'], shape, 'dy * up * s * (1.0 + gate * (1.0 - s))'), [
          saved[0],
          saved[1],
          dy,
        ]),
        runProgram(elementwise('lora-studio-swiglu-dup', ['Gate', 'Dy'], shape, 'dy * gate * s'), [saved[0], dy]),
      ],
    };
  });
  return op(gate, up) as tf.Tensor2D;
}

/** The score a masked key gets (as in llama.ts): exp(MASKED − max) is 0 in f32, and a fully masked row stays finite. */
const MASKED = -1e9;

/**
 * The attention's row of scores for query row r, key c: raw·scale where the mask keeps the key, MASKED elsewhere.
 * Scores are [B·G·T', S] rows (G·T' rows per batch, the query time t = r mod T); keep is [Bk·T, S], Bk = B or 1.
 */
const MASKED_SCORE = `
        let t = row % uniforms.time;
        let b = row / uniforms.rowsPerBatch;
        let keepRow = select(0, b, uniforms.keepBatched == 1) * uniforms.time + t;
        `;

function maskedSoftmaxProgram(rows: number, cols: number): Program {
  return rowReduce(
    'lora-studio-masked-softmax',
    ['scores', 'keep'],
    rows,
    cols,
    `${MASKED_SCORE}
        var m = -3.4e38;
        for (var c = tid; c < cols; c += ${WORKGROUP}) {
          m = max(m, select(${MASKED}, getScores(row, c) * uniforms.scale, getKeep(keepRow, c) != 0.0));
        }
        let rowMax = reduceRowMax(tid, m);
        var sum = 0.0;
        for (var c = tid; c < cols; c += ${WORKGROUP}) {
          sum += exp(select(${MASKED}, getScores(row, c) * uniforms.scale, getKeep(keepRow, c) != 0.0) - rowMax);
        }
        let total = reduceRow(tid, vec2<f32>(sum, 0.0)).x;
        for (var c = tid; c < cols; c += ${WORKGROUP}) {
          let v = select(${MASKED}, getScores(row, c) * uniforms.scale, getKeep(keepRow, c) != 0.0);
          setOutputAtCoords(row, c, exp(v - rowMax) / total);
        }`,
    MASK_UNIFORMS,
  );
}

/** d scores = y·(dy − Σ dy·y)·scale·keep: softmax's gradient through the mask and the 1/√D scale. */
function maskedSoftmaxGradProgram(rows: number, cols: number): Program {
  return rowReduce(
    'lora-studio-masked-softmax-grad',
    ['y', 'dy', 'keep'],
    rows,
    cols,
    `${MASKED_SCORE}
        var dot = 0.0;
        for (var c = tid; c < cols; c += ${WORKGROUP}) { dot += getDy(row, c) * getY(row, c); }
        let total = reduceRow(tid, vec2<f32>(dot, 0.0)).x;
        for (var c = tid; c < cols; c += ${WORKGROUP}) {
          let k = select(0.0, uniforms.scale, getKeep(keepRow, c) != 0.0);
          setOutputAtCoords(row, c, getY(row, c) * (getDy(row, c) - total) * k);
        }`,
    MASK_UNIFORMS,
  );
}

const MASK_UNIFORMS = 'scale : f32, time : i32, rowsPerBatch : i32, keepBatched : i32,';

/**
 * softmax(raw·scale masked by keep) over the last axis, as one kernel forward and one backward, for raw scores
 * [B, G, R, S] whose rows are R = rep·T query rows (time t = row mod T) and a 0/1 keep mask [B|1, 1, T, S]. The
 * mask gets no gradient.
 */
export function fusedMaskedSoftmax(raw: tf.Tensor4D, keep: tf.Tensor4D, scale: number): tf.Tensor4D {
  const [B, G, R, S] = raw.shape;
  const T = keep.shape[2];
  const rows = B * G * R;
  const keep2d = tf.reshape(keep, [keep.shape[0] * T, S]);
  const uniforms: ProgramUniform[] = [
    { type: 'float32', data: [scale] },
    { type: 'int32', data: [T] },
    { type: 'int32', data: [G * R] },
    { type: 'int32', data: [keep.shape[0] === B && B > 1 ? 1 : 0] },
  ];
  const op = tf.customGrad((...args) => {
    const scores = tf.reshape(args[0] as tf.Tensor4D, [rows, S]);
    const save = args[args.length - 1] as unknown as tf.GradSaveFunc;
    const y = runProgram(maskedSoftmaxProgram(rows, S), [scores, keep2d], uniforms);
    save([y]);
    return {
      value: tf.reshape(y, [B, G, R, S]) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.reshape(runProgram(maskedSoftmaxGradProgram(rows, S), [saved[0], tf.reshape(dy, [rows, S]), keep2d], uniforms), [B, G, R, S]),
    };
  });
  return op(raw) as tf.Tensor4D;
}
