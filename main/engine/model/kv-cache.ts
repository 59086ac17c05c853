import * as tf from '@tensorflow/tfjs';

/**
 * Keys and values of every layer for the positions seen so far, [B, kvHeads, T, D] each (before GQA repetition,
 * so the cache is heads/kvHeads times smaller than the attention's working set).
 */
export class KVCache {
  private keys: (tf.Tensor4D | undefined)[];
  private values: (tf.Tensor4D | undefined)[];
  /** Positions already in the cache; the next token's position. */
  length = 0;

  constructor(readonly numLayers: number) {
    this.keys = new Array(numLayers).fill(undefined);
    this.values = new Array(numLayers).fill(undefined);
  }

  /** Append this step's k, v for a layer and return the whole sequence so far (kept alive outside tidy). */
  append(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D } {
    const oldK = this.keys[layer];
    const oldV = this.values[layer];
    const newK = oldK ? (tf.concat([oldK, k], 2) as tf.Tensor4D) : tf.clone(k); // [B, kvH, T, D]
    const newV = oldV ? (tf.concat([oldV, v], 2) as tf.Tensor4D) : tf.clone(v);
    tf.keep(newK);
    tf.keep(newV);
    oldK?.dispose();
    oldV?.dispose();
    this.keys[layer] = newK;
    this.values[layer] = newV;
    return { k: newK, v: newV };
  }

  /** Called once per forward step after every layer appended. */
  advance(steps: number): void {
    this.length += steps;
  }

  dispose(): void {
    tf.dispose([...this.keys, ...this.values].filter((t): t is tf.Tensor4D => t !== undefined));
    this.keys.fill(undefined);
    this.values.fill(undefined);
    this.length = 0;
  }
}
