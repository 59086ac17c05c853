import * as tf from '@tensorflow/tfjs';
import { packForGpu, type GpuPackedMatrix } from '../backend/webgpu-packed-matmul.ts';
import type { CpuMatrix, GemmMatrixInput } from '../cpu-kernels/cpu-kernels.ts';
import { GEMM_MODES, GEMM_QUANT_BLOCK } from '../cpu-kernels/gemm-wat.ts';
import { BASE_DTYPES } from '../llama/base-dtype-names.ts';
import { cpuGemm } from '../cpu-kernels/cpu-matmul-path.ts';
import { JIT_PIECE_BYTES, type FrozenPlacement } from '../llama/frozen-placement.ts';
import { dequantizeRows, dequantizeTransposed, gatherRows, QUANT_BLOCK, type StoredMatrix } from '../llama/block-quant.ts';

/**
 * A frozen weight matrix W [out, in], used as x·Wᵀ, in the form the backend computes with:
 * - resident f32: Wᵀ [in, out] as a tensor (tfjs-wasm's fast matmul only serves non-transposed 2-D operands), and
 *   W made once, on demand, for the backward pass (dx = dy·W): 8 bytes a weight inside the backend's memory;
 * - gpu: the stored matrix (f32, bf16, f16, int8 or nf4) as one packed copy on the WebGPU device, serving both
 *   directions and decoded inside the matmul kernel (webgpu-packed-matmul.ts);
 * - cpu: the stored matrix (f32, bf16, f16, int8 or nf4) in the CPU GEMM kernels' arena (cpu-kernels/), outside the
 *   4 GiB wasm heap, decoded inside the kernels for both directions (backend/cpu-matmul.ts); the CPU backends' path
 *   unless LORA_STUDIO_CPU_MATMUL=tfjs;
 * - host: the stored matrix (f32, bf16, f16, int8 or nf4) in JS memory, outside the 4 GiB wasm heap; every
 *   product dequantizes it just in time into a transient f32 tensor, released after use (jitMatMul).
 */
export type FrozenMatrix =
  | { wT: tf.Tensor2D; w?: tf.Tensor2D; gpu?: undefined; host?: undefined; cpu?: undefined }
  | { gpu: GpuPackedMatrix; wT?: undefined; w?: undefined; host?: undefined; cpu?: undefined }
  | { cpu: CpuMatrix; wT?: undefined; w?: undefined; host?: undefined; gpu?: undefined }
  | { host: StoredMatrix; wT?: undefined; w?: undefined; gpu?: undefined; cpu?: undefined };

/**
 * A stored matrix in the backend's representation: packed on WebGPU, in the CPU kernels' arena once they are open
 * (openCpuGemm), else on the host or as resident f32 W and Wᵀ (tfjs's matMul).
 */
export function toBackendMatrix(stored: StoredMatrix, backendName: string, placement: FrozenPlacement): FrozenMatrix {
  if (backendName === 'webgpu') return { gpu: packForGpu(stored) };
  const gemm = cpuGemm();
  if (gemm) return { cpu: gemm.upload(gemmInput(stored)) };
  if (placement === 'host') return { host: stored };
  const values = dequantizeRows(stored);
  return { wT: tf.tidy(() => tf.transpose(tf.tensor2d(values, [stored.rows, stored.cols])) as tf.Tensor2D) };
}

// The CPU GEMM kernels decode every storage mode, with the same block size (both are checked when this loads).
if (QUANT_BLOCK !== GEMM_QUANT_BLOCK || BASE_DTYPES.some((m) => !(GEMM_MODES as readonly string[]).includes(m)))
  throw new Error('cpu-kernels/gemm-wat.ts does not decode every storage mode of llama/block-quant.ts');

/** A stored matrix as the CPU GEMM kernels take it: its bytes as they are, nothing decoded. */
export function gemmInput(m: StoredMatrix): GemmMatrixInput {
  const { rows, cols } = m;
  switch (m.dtype) {
    case 'f32':
      return { rows, cols, mode: m.dtype, values: m.values };
    case 'f16':
    case 'bf16':
      return { rows, cols, mode: m.dtype, values: m.bits };
    case 'int8':
    case 'nf4':
      return { rows, cols, mode: m.dtype, values: m.codes, scales: m.scales };
  }
}

/**
 * x·Wᵀ for a W held on the host, x [N, in] → [N, out]. Forward: Wᵀ [in, out] dequantized straight into that layout
 * (a blocked transpose in JS); backward: dx = dy·W with W [out, in] dequantized again, so no f32 copy is saved for
 * the gradient and the heap holds at most one transient piece per product. A W over JIT_PIECE_BYTES goes in pieces
 * of rows: y = [x·W₁ᵀ, x·W₂ᵀ, …] and dx = Σ dy[:, piece]·W_piece.
 */
export function jitMatMul(x: tf.Tensor2D, m: StoredMatrix, pieceBytes = JIT_PIECE_BYTES): tf.Tensor2D {
  const pieces = rowPieces(m.rows, Math.max(1, Math.floor(pieceBytes / (4 * m.cols))));
  const op = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor2D;
    // each transient Wᵀ piece goes right after its product, so only one is ever in the heap
    const products = pieces.map(([start, end]) => {
      const wT = tf.tensor2d(dequantizeTransposed(m, hostScratch((end - start) * m.cols), start, end), [m.cols, end - start]);
      const y = tf.matMul(input, wT);
      wT.dispose();
      return y;
    });
    return {
      value: products.length === 1 ? products[0] : tf.concat(products, 1),
      gradFunc: (dy: tf.Tensor) =>
        tf.tidy(() => {
          let dx: tf.Tensor2D | undefined;
          for (const [start, end] of pieces) {
            const sum = dx;
            // a tidy per piece: its W goes before the next piece is dequantized
            dx = tf.tidy(() => {
              const w = tf.tensor2d(dequantizeRows(m, start, end, hostScratch((end - start) * m.cols)), [end - start, m.cols]);
              const dyPiece = pieces.length === 1 ? (dy as tf.Tensor2D) : tf.slice(dy as tf.Tensor2D, [0, start], [-1, end - start]);
              const part = tf.matMul(dyPiece, w) as tf.Tensor2D;
              return sum ? (tf.add(sum, part) as tf.Tensor2D) : part;
            });
            sum?.dispose();
          }
          return dx!;
        }),
    };
  });
  return op(x) as tf.Tensor2D;
}

/** [start, end) row ranges of at most `size` rows covering [0, rows). */
function rowPieces(rows: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < rows; start += size) out.push([start, Math.min(rows, start + size)]);
  return out;
}

let scratch = new Float32Array(0);

/**
 * A JS buffer for one dequantized matrix. tfjs-wasm copies a new tensor's values into its heap at once, so there one
 * buffer (the size of the largest matrix) serves every product instead of a fresh array per call, whose garbage would
 * pile up in RSS between collections (gigabytes a step on a 1B model). Other backends may keep the array: fresh there.
 */
function hostScratch(n: number): Float32Array {
  if (tf.getBackend() !== 'wasm') return new Float32Array(n);
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch.subarray(0, n);
}

/** A frozen embedding table [V, H]: a tensor (WebGPU, where reads are asynchronous), or stored on the host. */
export type FrozenEmbedding = { table: tf.Tensor2D; host?: undefined } | { host: StoredMatrix; table?: undefined };

/**
 * The embedding rows of ids [B, T] → [B·T, H]. A host table is gathered in JS (it is frozen: no gradient), so the
 * vocabulary never sits in the wasm heap in f32.
 */
export function embedTokens(e: FrozenEmbedding, ids: tf.Tensor2D): tf.Tensor2D {
  const n = ids.shape[0] * ids.shape[1];
  if (e.table) return tf.reshape(tf.gather(e.table, tf.reshape(ids, [-1])), [n, e.table.shape[1]]) as tf.Tensor2D;
  return tf.tensor2d(gatherRows(e.host, ids.dataSync()), [n, e.host.cols]);
}
