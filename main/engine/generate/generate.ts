import * as tf from '@tensorflow/tfjs';
import { StudioError } from '../errors.ts';
import { usableContext } from '../llama/config.ts';
import { KVCache } from '../model/kv-cache.ts';
import type { ForwardOptions, LlamaModel } from '../model/llama.ts';
import { GREEDY, sampleToken, type SamplingOptions } from './sampling.ts';

interface GenerateOptions extends Partial<SamplingOptions> {
  maxNewTokens: number;
  /** Stop when one of these is produced (the stop token is not part of the output). */
  stopTokenIds: number[];
  /** Uniform [0, 1) draws for sampling; only used when temperature > 0. */
  random?: () => number;
  /** Called with each new token as soon as it is chosen (stream it to a UI or a terminal). */
  onToken?: (id: number) => void;
  /** Adapter or other projection override (see ForwardOptions.projection). */
  projection?: ForwardOptions['projection'];
  /** Stop early (the playground's Stop button). */
  signal?: AbortSignal;
}

export interface GenerateResult {
  tokens: number[];
  /** 'context': the model's usable context (max_position_embeddings, or its sliding window) is full. */
  stoppedBy: 'eos' | 'max_tokens' | 'aborted' | 'context';
  prefillMs: number;
  decodeMs: number;
}

/**
 * Autoregressive generation with a KV cache: one prefill pass over the prompt, then one token per pass.
 * The prompt must hold at least one token (BOS alone is a valid prompt).
 */
export async function generate(model: LlamaModel, prompt: number[], opts: GenerateOptions): Promise<GenerateResult> {
  if (prompt.length === 0)
    throw new StudioError(
      'generate: the prompt has no tokens (the tokenizer has no BOS; give an instruction or a template)',
      undefined,
      'generate/empty-prompt',
    );
  const rows = model.config.vocabSize;
  const outside = prompt.find((id) => !(id >= 0 && id < rows));
  if (outside !== undefined)
    throw new StudioError(
      `the prompt holds token id ${outside}, which has no row in the model's embedding (${rows} rows, config.json vocab_size): the tokenizer has tokens the model cannot read; resize the embeddings to the tokenizer or remove the token from tokenizer.json`,
      undefined,
      'generate/token-out-of-range',
    );
  const sampling: SamplingOptions = { ...GREEDY, ...definedOnly(opts) };
  const random =
    opts.random ??
    (() => {
      throw new Error('generate: sampling with temperature > 0 needs a random source');
    });
  const context = usableContext(model.config);
  if (prompt.length > context.tokens)
    throw new StudioError(
      `the prompt has ${prompt.length} tokens, more than the model's ${context.by} of ${context.tokens}; shorten it`,
      undefined,
      'generate/prompt-too-long',
    );
  const cache = new KVCache(model.config.numLayers);
  const seen = [...prompt];
  const tokens: number[] = [];
  let stoppedBy: GenerateResult['stoppedBy'] = 'max_tokens';
  let input = prompt;
  let prefillMs = 0;
  const start = performance.now();
  try {
    while (tokens.length < opts.maxNewTokens) {
      if (opts.signal?.aborted) {
        stoppedBy = 'aborted';
        break;
      }
      if (cache.length + input.length > context.tokens) {
        stoppedBy = 'context'; // full: past it the model would need positions (or a window) it does not have
        break;
      }
      const logits = await nextLogits(model, input, cache, opts.projection);
      if (tokens.length === 0) prefillMs = performance.now() - start;
      const next = sampleToken(logits, sampling, seen, random);
      if (opts.stopTokenIds.includes(next)) {
        stoppedBy = 'eos';
        break;
      }
      tokens.push(next);
      seen.push(next);
      opts.onToken?.(next);
      input = [next];
      // Let the event loop breathe between tokens so a UI or a server stays responsive.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    cache.dispose();
  }
  return { tokens, stoppedBy, prefillMs, decodeMs: performance.now() - start - prefillMs };
}

/** Logits of the last position after feeding `ids` (extending the cache). */
async function nextLogits(model: LlamaModel, ids: number[], cache: KVCache, projection?: ForwardOptions['projection']) {
  const input = tf.tensor2d([ids], [1, ids.length], 'int32');
  const logits = model.forward(input, { cache, lastOnly: true, projection }); // [1, 1, V]
  input.dispose();
  const values = (await logits.data()) as Float32Array;
  logits.dispose();
  // NaN logits sample as token 0 or nothing: an answer that looks like a result. Say what happened instead.
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]))
      throw new StudioError(
        `the model's next-token logits are not finite (${values[i]} for token ${i}) after ${cache.length} tokens: its weights or activations overflow; the answer would be meaningless`,
        undefined,
        'generate/non-finite',
      );
  }
  return values;
}

function definedOnly(o: Partial<SamplingOptions>): Partial<SamplingOptions> {
  const out: Partial<SamplingOptions> = {};
  if (o.temperature !== undefined) out.temperature = o.temperature;
  if (o.topK !== undefined) out.topK = o.topK;
  if (o.topP !== undefined) out.topP = o.topP;
  if (o.repetitionPenalty !== undefined) out.repetitionPenalty = o.repetitionPenalty;
  return out;
}
