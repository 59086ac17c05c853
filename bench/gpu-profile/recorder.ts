import * as tf from '@tensorflow/tfjs';
import { dispatchCost, type DispatchRecord, type TensorShape } from './dispatch-cost.ts';

interface ProgramLike {
  shaderKey: string;
  outputShape: number[];
  dispatch: [number, number, number];
  flops?: number;
}

type RunProgram = (program: ProgramLike, inputs: tf.TensorInfo[], dtype: tf.DataType, ...rest: unknown[]) => tf.TensorInfo;

/**
 * Records every program tfjs-backend-webgpu runs (its kernels and ours: both go through the backend's
 * runWebGPUProgram, ours by webgpu-program.ts's runProgram) while `recording` is on. With `execute: false` each
 * program still compiles and is dispatched, but on one workgroup: the shapes, and so the record, are those of the real
 * step, at a fraction of the time on a software adapter. The values computed are then meaningless.
 */
export class DispatchRecorder {
  records: DispatchRecord[] = [];
  recording = false;
  private original?: RunProgram;

  constructor(private readonly execute: boolean) {}

  install(): void {
    const backend = tf.backend() as unknown as { runWebGPUProgram?: RunProgram };
    if (typeof backend.runWebGPUProgram !== 'function')
      throw new Error(`the dispatch profile needs the webgpu backend (this is ${tf.getBackend()})`);
    const original = backend.runWebGPUProgram.bind(backend);
    this.original = backend.runWebGPUProgram;
    backend.runWebGPUProgram = (program, inputs, dtype, ...rest) => {
      if (this.recording) this.records.push(record(program, inputs, dtype));
      if (!this.execute) program.dispatch = [1, 1, 1];
      return original(program, inputs, dtype, ...rest);
    };
  }

  uninstall(): void {
    if (this.original) (tf.backend() as unknown as { runWebGPUProgram: RunProgram }).runWebGPUProgram = this.original;
  }
}

function record(program: ProgramLike, inputs: tf.TensorInfo[], dtype: tf.DataType): DispatchRecord {
  const ctor = (program as object).constructor?.name;
  const name = ctor && ctor !== 'Object' ? ctor : program.shaderKey;
  const ins: TensorShape[] = inputs.map((t) => ({ shape: [...t.shape], dtype: t.dtype }));
  const output = { shape: [...program.outputShape], dtype };
  return { program: name, inputs: ins, output, ...dispatchCost(name, ins, output, program.flops) };
}
