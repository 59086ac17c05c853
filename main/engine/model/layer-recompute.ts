import * as tf from '@tensorflow/tfjs';

/**
 * Gradient checkpointing of one decoder layer, as PEFT's prepare_model_for_kbit_training turns on for quantized
 * bases: the forward pass keeps only the layer's input x and the shared context (RoPE tables, mask), not the ~60
 * intermediates autograd would (~108 MiB a layer at TinyLlama's widths and 128 tokens). The backward pass runs the
 * layer again under a tape of its own and backpropagates dy through it: one more forward per step for activations
 * of one layer instead of all. The recomputation draws the same dropout masks (their seeds depend on where they are
 * drawn, not on a random state), so the gradients are those of the plain pass.
 *
 * `params` are the tensors besides x the layer's gradient must reach (its LoRA weights); they become inputs of the
 * checkpoint so the outer tape links them to the loss.
 */
export function checkpointedLayer<C extends { [K in keyof C]: tf.Tensor }>(
  layer: (x: tf.Tensor2D, ctx: C) => tf.Tensor2D,
  x: tf.Tensor2D,
  ctx: C,
  params: tf.Tensor[],
): tf.Tensor2D {
  const keys = Object.keys(ctx) as (keyof C)[];
  const op = tf.customGrad((...args) => {
    const save = args[args.length - 1] as unknown as tf.GradSaveFunc;
    const input = args[0] as tf.Tensor2D;
    save([input, ...keys.map((k) => ctx[k])]); // the forward's own tensors are freed when it returns: keep these
    return {
      value: layer(input, ctx),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ...rest] = saved;
        const savedCtx = Object.fromEntries(keys.map((k, i) => [k, rest[i]])) as C;
        const sources = [xs, ...params];
        const grads = recompute(() => layer(xs as tf.Tensor2D, savedCtx), sources, dy as tf.Tensor2D);
        // a parameter the layer does not use (none today) gets a zero gradient: customGrad wants one per input
        return grads.map((g, i) => g ?? tf.zerosLike(sources[i]));
      },
    };
  });
  return op(x, ...params) as tf.Tensor2D;
}

interface EngineState {
  state: { activeTape: unknown };
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor, allowNoGradients: boolean): { value: tf.Tensor; grads: tf.Tensor[] };
}

/**
 * d(f)/d(xs) · dy, computed inside another backward pass. tfjs keeps one active tape: a nested gradients() call
 * replaces the outer pass's tape and sets it to null when done, and the outer pass then fails while freeing its
 * saved tensors. So the outer tape is put back afterwards (tfjs's own higher-order gradients never nest this way).
 */
function recompute(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): (tf.Tensor | undefined)[] {
  const engine = tf.engine() as unknown as EngineState;
  const outer = engine.state.activeTape;
  try {
    const { value, grads } = engine.gradients(f, xs, dy, true);
    value.dispose();
    return grads;
  } finally {
    engine.state.activeTape = outer;
  }
}
