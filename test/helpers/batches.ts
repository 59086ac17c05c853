import type { Prng } from '../../main/engine/data/prng.ts';
import type { MicroBatch } from '../../main/engine/data/batches.ts';

/** Two rows of 16 random tokens, the second left-padded by 4 and one prompt token masked: the padding path too. */
export function paddedTestBatch(prng: Prng): MicroBatch {
  const B = 2;
  const T = 16;
  const inputIds = new Int32Array(B * T).map(() => 3 + prng.nextInt(500));
  const labels = Int32Array.from(inputIds);
  const attentionMask = new Int32Array(B * T).fill(1);
  for (let t = 0; t < 4; t++) {
    inputIds[T + t] = 0;
    labels[T + t] = -100;
    attentionMask[T + t] = 0;
  }
  labels[2] = -100;
  return { batchSize: B, seqLen: T, inputIds, labels, attentionMask };
}
