import * as tf from '@tensorflow/tfjs';

interface AdamWSettings {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW's defaults as the HF Trainer uses them (adamw_torch, no weight decay). */
export const ADAMW_DEFAULTS: AdamWSettings = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/**
 * AdamW exactly as torch.optim.AdamW (non-amsgrad, non-foreach) computes it:
 *   p ← p − lr·wd·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   p ← p − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps).
 * The moments are plain tensors so a checkpoint can save and restore them bit for bit.
 */
export class AdamW {
  step = 0;
  readonly m: tf.Tensor[];
  readonly v: tf.Tensor[];

  constructor(
    readonly params: tf.Variable[],
    readonly settings: AdamWSettings = ADAMW_DEFAULTS,
  ) {
    this.m = params.map((p) => tf.keep(tf.zerosLike(p)));
    this.v = params.map((p) => tf.keep(tf.zerosLike(p)));
  }

  apply(grads: tf.Tensor[], lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.settings;
    this.step++;
    const bias1 = 1 - Math.pow(beta1, this.step);
    const bias2Sqrt = Math.sqrt(1 - Math.pow(beta2, this.step));
    this.params.forEach((p, i) => {
      const [m, v, next] = tf.tidy(() => {
        const g = grads[i];
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        const decayed = weightDecay ? tf.mul(p, 1 - lr * weightDecay) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), bias2Sqrt), eps);
        return [m, v, tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bias1))];
      });
      p.assign(next as tf.Tensor);
      next.dispose();
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = tf.keep(m);
      this.v[i] = tf.keep(v);
    });
  }

  /** Replace the moments and step (resume). */
  load(step: number, m: Float32Array[], v: Float32Array[]): void {
    this.step = step;
    this.params.forEach((p, i) => {
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = tf.keep(tf.tensor(m[i], p.shape));
      this.v[i] = tf.keep(tf.tensor(v[i], p.shape));
    });
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/** Scale grads so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_); returns the norm before. */
export async function clipGlobalNorm(grads: tf.Tensor[], maxNorm: number): Promise<{ grads: tf.Tensor[]; norm: number }> {
  // One asynchronous read of every grad's sum of squares (no dataSync: tfjs-webgpu cannot read synchronously in Node),
  // summed in float64 in the same order as before.
  const squares = tf.tidy(() => tf.stack(grads.map((g) => tf.sum(tf.square(g)))));
  const perGrad = (await squares.data()) as Float32Array;
  squares.dispose();
  const norm = Math.sqrt(perGrad.reduce((s, x) => s + x, 0));
  if (!(maxNorm > 0)) return { grads, norm };
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return { grads, norm };
  return { grads: grads.map((g) => tf.mul(g, coef)), norm };
}
