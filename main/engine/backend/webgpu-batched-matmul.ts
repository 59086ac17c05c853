import * as tf from '@tensorflow/tfjs';
import { runProgram, type WebGpuProgram } from './webgpu-program.ts';

/**
 * Register-tiled batched products for the attention: C[b] = op(A[b])·op(B[b]) with op = identity or transpose,
 * A and B [batch, rows, cols] as stored. A workgroup of 8×8 threads makes a 32×32 tile of C; each thread a 4×4
 * block in registers, so every value it reads from workgroup memory serves 4 products. Tiles of A and B are staged
 * 32 deep along the inner dimension, read from the buffers four contiguous values at a time (one vec4 load when the
 * stored row length is a multiple of 4, else four bounds-checked scalar loads), whichever axis is the contiguous one.
 *
 * The attention needs three forms (model/llama.ts groupedAttention): scores = q·kᵀ (NT) and out = probs·v (NN)
 * forward; their gradients dq = dscores·k (NN), dk = dscoresᵀ·q (TN), dprobs = dout·vᵀ (NT), dv = probsᵀ·dout (TN).
 * The gradients of each form are the other forms, so one kernel and its customGrad cover all six products.
 */

const TILE = 32;
const PER_THREAD = 4;
const THREADS = TILE / PER_THREAD; // 8 × 8 threads per workgroup
const VEC4_PER_THREAD = (TILE * TILE) / 4 / (THREADS * THREADS); // 4 vec4 loads per thread per tile of A (and of B)

/** `fn load<Name>(batch, row, col) -> vec4<f32>`: stored elements col … col+3 of a row (col a multiple of 4), zero outside. */
function loader(name: string, vec4: boolean): string {
  const shape = `uniforms.${name.toLowerCase()}Shape`;
  const read = vec4
    ? `if (col < ${shape}[2]) { v = ${name}[(batch * ${shape}[1] + row) * (${shape}[2] / 4) + col / 4]; }`
    : `let base = (batch * ${shape}[1] + row) * ${shape}[2];
          for (var i = 0; i < 4; i++) { if (col + i < ${shape}[2]) { v[i] = ${name}[base + col + i]; } }`;
  return `
      fn load${name}(batch : i32, row : i32, col : i32) -> vec4<f32> {
        var v = vec4<f32>(0.0);
        if (row < ${shape}[1]) {
          ${read}
        }
        return v;
      }`;
}

/**
 * One staged tile of an operand into `tile[k][i/4][i%4]` (k along the inner dimension, i along C's rows for A or
 * columns for B). `inner` says whether the stored rows run along the inner dimension (A as stored, Bᵀ as stored).
 */
function stage(name: string, tile: string, start: string, inner: boolean): string {
  const [outer, along] = inner ? ['i', 'k'] : ['k', 'i'];
  return `
        for (var j = 0; j < ${VEC4_PER_THREAD}; j++) {
          let slot = li + j * ${THREADS * THREADS};
          let ${outer} = slot / ${TILE / 4};
          let ${along}4 = (slot % ${TILE / 4}) * 4;
          ${
            inner
              ? `let v = load${name}(batch, ${start} + i, k0 + k4);
          for (var e = 0; e < 4; e++) { ${tile}[k4 + e][i / 4][i % 4] = v[e]; }`
              : `${tile}[k][i4 / 4] = load${name}(batch, k0 + k, ${start} + i4);`
          }
        }`;
}

function program(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean): WebGpuProgram {
  const [batch, aRows, aCols] = a.shape;
  const [, bRows, bCols] = b.shape;
  const [m, inner] = transposeA ? [aCols, aRows] : [aRows, aCols];
  const n = transposeB ? bRows : bCols;
  if ((transposeB ? bCols : bRows) !== inner)
    throw new Error(`batched matmul: inner sizes differ (${a.shape} × ${b.shape}, transposes ${transposeA}, ${transposeB})`);
  const [vecA, vecB] = [aCols % 4 === 0, bCols % 4 === 0];
  return {
    variableNames: ['A', 'B'],
    variableComponents: [vecA ? 4 : 1, vecB ? 4 : 1],
    outputShape: [batch, m, n],
    shaderKey: `lora-studio-batched-matmul-${transposeA ? 'T' : 'N'}${transposeB ? 'T' : 'N'}-${vecA ? 4 : 1}${vecB ? 4 : 1}`,
    dispatchLayout: { x: [2], y: [1] }, // main() reads its ids: x → columns of C, y → rows, z → batch
    dispatch: [Math.ceil(n / TILE), Math.ceil(m / TILE), batch],
    workgroupSize: [THREADS, THREADS, 1],
    getUserCode: () => `
      var<workgroup> aTile : array<array<vec4<f32>, ${TILE / 4}>, ${TILE}>; // [k][row / 4]
      var<workgroup> bTile : array<array<vec4<f32>, ${TILE / 4}>, ${TILE}>; // [k][col / 4]
      ${loader('A', vecA)}
      ${loader('B', vecB)}
      fn main() {
        let batch = i32(workgroupId.z);
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let li = ty * ${THREADS} + tx;
        let row0 = i32(workgroupId.y) * ${TILE};
        let col0 = i32(workgroupId.x) * ${TILE};
        let m = uniforms.outShape[1];
        let n = uniforms.outShape[2];
        let inner = ${transposeA ? 'uniforms.aShape[1]' : 'uniforms.aShape[2]'};
        var acc : array<vec4<f32>, ${PER_THREAD}>;
        for (var k0 = 0; k0 < inner; k0 += ${TILE}) {
          ${stage('A', 'aTile', 'row0', !transposeA)}
          ${stage('B', 'bTile', 'col0', transposeB)}
          workgroupBarrier();
          for (var k = 0; k < ${TILE}; k++) {
            let av = aTile[k][ty];
            let bv = bTile[k][tx];
            for (var i = 0; i < ${PER_THREAD}; i++) { acc[i] += av[i] * bv; }
          }
          workgroupBarrier();
        }
        for (var i = 0; i < ${PER_THREAD}; i++) {
          let row = row0 + ty * ${PER_THREAD} + i;
          for (var j = 0; j < ${PER_THREAD}; j++) {
            let col = col0 + tx * ${PER_THREAD} + j;
            if (row < m && col < n) { result[(batch * m + row) * n + col] = acc[i][j]; }
          }
        }
      }`,
  };
}

/**
 * op(A)·op(B) for A and B [batch, rows, cols] (4-D inputs are folded to 3-D and the result unfolded), with
 * gradients through the same kernel. Transposing both is not supported (the attention never needs it).
 */
export function tiledBatchMatMul<T extends tf.Tensor3D | tf.Tensor4D>(a: T, b: T, transposeA = false, transposeB = false): T {
  if (transposeA && transposeB) throw new Error('tiledBatchMatMul: transposing both operands is not supported');
  const lead: number[] = a.shape.slice(0, -2);
  const fold = (t: tf.Tensor) => tf.reshape(t, [-1, t.shape[t.rank - 2], t.shape[t.rank - 1]]) as tf.Tensor3D;
  const product = (x: tf.Tensor3D, y: tf.Tensor3D, tA: boolean, tB: boolean) => runProgram<tf.Tensor3D>(program(x, y, tA, tB), [x, y]);
  const op = tf.customGrad((...args) => {
    const [x, y] = [fold(args[0] as tf.Tensor), fold(args[1] as tf.Tensor)];
    const save = args[2] as unknown as tf.GradSaveFunc;
    save([x, y]);
    const c = product(x, y, transposeA, transposeB);
    return {
      value: tf.reshape(c, [...lead, ...c.shape.slice(1)] as number[]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved as tf.Tensor3D[];
        const g = fold(dy);
        // C = A·B: dA = dC·Bᵀ, dB = Aᵀ·dC.  C = A·Bᵀ: dA = dC·B, dB = dCᵀ·A.  C = Aᵀ·B: dA = B·dCᵀ, dB = A·dC.
        const [da, db] = transposeA
          ? [product(ys, g, false, true), product(xs, g, false, false)]
          : transposeB
            ? [product(g, ys, false, false), product(g, xs, true, false)]
            : [product(g, ys, false, true), product(xs, g, true, false)];
        return [tf.reshape(da, (args[0] as tf.Tensor).shape), tf.reshape(db, (args[1] as tf.Tensor).shape)];
      },
    };
  });
  return op(a, b) as T;
}
