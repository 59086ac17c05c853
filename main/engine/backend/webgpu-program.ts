import * as tf from '@tensorflow/tfjs';

/** The slice of tfjs-backend-webgpu's program interface our WGSL kernels use (webgpu_program.ts in 4.22). */
export interface WebGpuProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  /** Output axes per dispatch dimension; with `y`, `main()` gets no flat index and the shader reads its ids itself. */
  dispatchLayout: { x: number[]; y?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** Extra fields of the shader's `uniforms` struct, e.g. `eps : f32,`. */
  uniforms?: string;
  /** Adds `uniforms.size`, the output's element count. */
  size?: boolean;
  /** Elements per buffer word, per input (4: the shader sees `array<vec4<f32>>`); the output's in outputComponent. */
  variableComponents?: number[];
  outputComponent?: number;
  getUserCode(): string;
}

export type ProgramUniform = { type: 'float32' | 'int32'; data: number[] };

interface WebGpuBackendLike {
  runWebGPUProgram(program: WebGpuProgram, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: ProgramUniform[]): tf.TensorInfo;
}

/** Run one of our kernels on the current (tfjs-backend-webgpu) backend; its f32 output as a tensor. */
export function runProgram<T extends tf.Tensor = tf.Tensor>(program: WebGpuProgram, inputs: tf.Tensor[], uniforms?: ProgramUniform[]): T {
  const info = (tf.backend() as unknown as WebGpuBackendLike).runWebGPUProgram(program, inputs, 'float32', uniforms);
  return tf.engine().makeTensorFromTensorInfo(info) as T;
}
