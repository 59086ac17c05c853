/** How the next token is picked from the logits. temperature 0 means greedy (argmax). */
export interface SamplingOptions {
  temperature: number;
  /** Keep only the k most likely tokens (0 = no limit). */
  topK: number;
  /** Keep the smallest set of tokens whose probability adds up to at least p (1 = no limit). */
  topP: number;
  /** HF's CTRL-style penalty on tokens already in the sequence: >1 discourages repeats (1 = off). */
  repetitionPenalty: number;
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 };

/** Index of the largest value (the first one on ties, as torch.argmax and llama.cpp's greedy sampler do). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * HF's RepetitionPenaltyLogitsProcessor: for every token seen, divide a positive logit by the penalty and
 * multiply a negative one, in place.
 */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    const l = logits[id];
    logits[id] = l > 0 ? l / penalty : l * penalty;
  }
}

/**
 * Pick the next token. Order as in HF's generate: repetition penalty, temperature, top-k, top-p, then a draw
 * with `random` (a seeded generator, so a seed reproduces a sample).
 */
export function sampleToken(rawLogits: Float32Array, opts: SamplingOptions, seen: readonly number[], random: () => number): number {
  const logits = Float32Array.from(rawLogits);
  applyRepetitionPenalty(logits, seen, opts.repetitionPenalty);
  if (opts.temperature <= 0) return argmax(logits);

  // Candidates sorted by logit, descending; top-k cuts the tail before the softmax.
  let order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  if (opts.topK > 0 && opts.topK < order.length) order = order.slice(0, opts.topK);

  const maxLogit = logits[order[0]];
  const probs = order.map((id) => Math.exp((logits[id] - maxLogit) / opts.temperature));
  const total = probs.reduce((s, p) => s + p, 0);
  for (let i = 0; i < probs.length; i++) probs[i] /= total;

  // top-p keeps the smallest head of the sorted list whose mass reaches p (always at least one token).
  let keep = probs.length;
  if (opts.topP < 1) {
    let mass = 0;
    for (let i = 0; i < probs.length; i++) {
      mass += probs[i];
      if (mass >= opts.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  const kept = probs.slice(0, keep);
  const keptTotal = kept.reduce((s, p) => s + p, 0);
  let r = random() * keptTotal;
  for (let i = 0; i < keep; i++) {
    r -= kept[i];
    if (r <= 0) return order[i];
  }
  return order[keep - 1];
}
