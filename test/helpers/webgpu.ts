import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../main/engine/backend/index.ts';

/** Start the WebGPU software adapter (SwiftShader) for this test file, or say why the file is skipped. */
export async function startWebgpuSoftware(what: string): Promise<string | undefined> {
  try {
    await initBackend('webgpu-software');
    return undefined;
  } catch (e) {
    const reason = `skipped: no WebGPU software adapter (${(e as Error).message})`;
    console.warn(`${what} ${reason}`);
    return reason;
  }
}

/** max |a − b| / max |b|. */
export async function relDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [d, m] = await Promise.all([tf.max(tf.abs(tf.sub(a, b))).data(), tf.max(tf.abs(b)).data()]);
  return d[0] / m[0];
}
