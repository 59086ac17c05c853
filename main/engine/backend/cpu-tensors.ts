import * as tf from '@tensorflow/tfjs';

// The CPU kernels read tfjs tensors and write new ones in place: on tfjs-wasm straight in its heap (no copy in or
// out, no garbage in JS), elsewhere through the tensors' values.

interface WasmBackendInternals {
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  wasm: { HEAPU8: Uint8Array };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

/**
 * A float32 tensor's values without a copy where the backend allows: on tfjs-wasm a view of its heap (valid until
 * the next allocation there), elsewhere dataSync.
 */
export function tensorValues(t: tf.Tensor): Float32Array {
  if (t.dtype === 'float32' && tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as WasmBackendInternals;
    const data = backend.dataIdMap.get(t.dataId);
    const heap = backend.wasm.HEAPU8;
    if (data && data.memoryOffset + 4 * t.size <= heap.buffer.byteLength) {
      return new Float32Array(heap.buffer, data.memoryOffset, t.size);
    }
  }
  return t.dataSync() as Float32Array;
}

/**
 * New float32 tensors of `shapes`, their values written by `fill` (which gets one array per tensor, in order, and
 * must read its inputs with tensorValues inside it: on tfjs-wasm every output is allocated first, since an
 * allocation may move the heap and leave older views empty).
 */
export function cpuTensors(shapes: number[][], fill: (outs: Float32Array[]) => void): tf.Tensor[] {
  if (tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as WasmBackendInternals;
    const infos = shapes.map((s) => backend.makeOutput(s, 'float32'));
    try {
      fill(infos.map((i) => backend.typedArrayFromHeap(i)));
    } catch (e) {
      for (const i of infos) backend.disposeData(i.dataId);
      throw e;
    }
    return infos.map((i) => tf.engine().makeTensorFromTensorInfo(i));
  }
  const outs = shapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
  fill(outs);
  return outs.map((o, i) => tf.tensor(o, shapes[i]));
}

/** One new float32 tensor of `shape` written by `fill` (see cpuTensors). */
export function cpuTensor<T extends tf.Tensor = tf.Tensor>(shape: number[], fill: (out: Float32Array) => void): T {
  return cpuTensors([shape], ([out]) => fill(out))[0] as T;
}
