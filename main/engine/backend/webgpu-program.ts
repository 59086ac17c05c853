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
  /** WGSL `enable` directives (e.g. `enable f16;`), put before everything tfjs generates: directives must come first. */
  enables?: string;
  getUserCode(): string;
}

export type ProgramUniform = { type: 'float32' | 'int32'; data: number[] };

interface WebGpuBackendLike {
  device: GPUDevice;
  runWebGPUProgram(program: WebGpuProgram, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: ProgramUniform[]): tf.TensorInfo;
}

/** Run one of our kernels on the current (tfjs-backend-webgpu) backend; its f32 output as a tensor. */
export function runProgram<T extends tf.Tensor = tf.Tensor>(program: WebGpuProgram, inputs: tf.Tensor[], uniforms?: ProgramUniform[]): T {
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const info = program.enables
    ? withEnables(backend, program.enables, () => backend.runWebGPUProgram(program, inputs, 'float32', uniforms))
    : backend.runWebGPUProgram(program, inputs, 'float32', uniforms);
  return tf.engine().makeTensorFromTensorInfo(info) as T;
}

/**
 * tfjs builds the shader source itself and starts it with its own declarations, so directives cannot go in
 * getUserCode. It compiles synchronously inside runWebGPUProgram (once per shader key), so for that call we hand it a
 * createShaderModule that puts the directives first.
 */
function withEnables<T>(backend: WebGpuBackendLike, enables: string, run: () => T): T {
  const device = backend.device;
  const own = Object.prototype.hasOwnProperty.call(device, 'createShaderModule');
  const original = device.createShaderModule;
  device.createShaderModule = (d: GPUShaderModuleDescriptor) => original.call(device, { ...d, code: `${enables}\n${d.code}` });
  try {
    return run();
  } finally {
    if (own) device.createShaderModule = original;
    else delete (device as { createShaderModule?: unknown }).createShaderModule;
  }
}
