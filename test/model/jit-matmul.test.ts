// The just-in-time dequantized matmul (a frozen base held on the host in its storage mode) against tfjs's own f32
// matmul of the dequantized weights, forward and backward, for every mode.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { dequantizeRows, dequantizeTransposed, storeMatrix } from '../../main/engine/llama/block-quant.ts';
import { BASE_DTYPES } from '../../main/engine/llama/base-dtype-names.ts';
import { jitMatMul, toBackendMatrix } from '../../main/engine/model/frozen-matrix.ts';
import { frozenMatMul } from '../../main/engine/model/ops.ts';
import { Prng } from '../../main/engine/data/prng.ts';

function random(n: number, seed: number, scale = 0.05): Float32Array {
  const prng = new Prng(seed);
  return Float32Array.from({ length: n }, () => (prng.next() * 2 - 1) * scale);
}

const maxRelDiff = (a: Float32Array, b: Float32Array) => {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
};

describe('just-in-time dequantized matmul (wasm)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('dequantizes straight into Wᵀ: the transpose of the row-major dequantization, for a width that is no multiple of the tile', () => {
    const [rows, cols] = [131, 70];
    for (const mode of BASE_DTYPES) {
      const m = storeMatrix(random(rows * cols, 1), rows, cols, mode);
      const w = dequantizeRows(m);
      const wT = dequantizeTransposed(m);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) if (wT[c * rows + r] !== w[r * cols + c]) throw new Error(`${mode} [${r}, ${c}]`);
    }
  });

  it('dequantizes a range of rows straight into its Wᵀ piece', () => {
    const [rows, cols] = [131, 70];
    for (const mode of BASE_DTYPES) {
      const m = storeMatrix(random(rows * cols, 2), rows, cols, mode);
      const w = dequantizeRows(m);
      const [start, end] = [37, 120];
      const piece = dequantizeTransposed(m, undefined, start, end);
      expect(piece.length).toBe((end - start) * cols);
      for (let r = start; r < end; r++)
        for (let c = 0; c < cols; c++)
          if (piece[c * (end - start) + r - start] !== w[r * cols + c]) throw new Error(`${mode} [${r}, ${c}]`);
    }
  });

  for (const mode of BASE_DTYPES) {
    it(`${mode}: x·Wᵀ and dx = dy·W equal f32 matmuls of the dequantized W within float rounding, and free every transient tensor`, async () => {
      const [n, out, inF] = [9, 96, 160];
      const stored = storeMatrix(random(out * inF, 7), out, inF, mode);
      const w = tf.tensor2d(dequantizeRows(stored), [out, inF]);
      const x = tf.tensor2d(random(n * inF, 3, 1), [n, inF]);
      const dy = tf.tensor2d(random(n * out, 5, 1), [n, out]);
      const host = toBackendMatrix(stored, 'wasm', 'host');
      expect(host.host).toBe(stored);

      const before = tf.memory().numTensors;
      const jit = tf.valueAndGrad((xi: tf.Tensor) => tf.sum(tf.mul(jitMatMul(xi as tf.Tensor2D, stored), dy)))(x);
      const viaOps = tf.tidy(() => frozenMatMul(x, host));
      const ref = tf.valueAndGrad((xi: tf.Tensor) => tf.sum(tf.mul(tf.matMul(xi, w, false, true), dy)))(x);
      const yJit = tf.tidy(() => jitMatMul(x, stored));
      // a W larger than the piece size goes in row pieces (here 40, 40, 16 rows): the same products and gradient
      const pieceBytes = 40 * inF * 4;
      const pieces = tf.valueAndGrad((xi: tf.Tensor) => tf.sum(tf.mul(jitMatMul(xi as tf.Tensor2D, stored, pieceBytes), dy)))(x);
      const yPieces = tf.tidy(() => jitMatMul(x, stored, pieceBytes));
      const yRef = tf.tidy(() => tf.matMul(x, w, false, true));

      expect(maxRelDiff((await yJit.data()) as Float32Array, (await yRef.data()) as Float32Array)).toBeLessThan(1e-6);
      expect(maxRelDiff((await viaOps.data()) as Float32Array, (await yRef.data()) as Float32Array)).toBeLessThan(1e-6);
      expect(maxRelDiff((await jit.grad.data()) as Float32Array, (await ref.grad.data()) as Float32Array)).toBeLessThan(1e-6);
      expect(maxRelDiff((await yPieces.data()) as Float32Array, (await yRef.data()) as Float32Array)).toBeLessThan(1e-6);
      expect(maxRelDiff((await pieces.grad.data()) as Float32Array, (await ref.grad.data()) as Float32Array)).toBeLessThan(1e-6);
      const created = [jit.value, jit.grad, viaOps, ref.value, ref.grad, yJit, yRef, pieces.value, pieces.grad, yPieces];
      // Only the outputs remain: the transient Wᵀ of the forward and W of the backward are gone.
      expect(tf.memory().numTensors - before).toBe(created.length);
      tf.dispose([...created, w, x, dy]);
    });
  }
});
