/**
 * llama.cpp through node-llama-cpp (3.21), used to check our exports against an implementation we did not write, and
 * as the reference in benchmarks. Imported lazily: the engine runs without it. Everything runs on the CPU.
 *
 * What node-llama-cpp 3.21 exposes of the model's outputs: no raw logits. The most exact thing is
 * `LlamaContextSequence.controlledEvaluate` with `generateNext.probabilities` at temperature 1 and no top-k/top-p/
 * min-p: its addon sorts all n_vocab logits and returns softmax(logits) computed in f32 (expf(l - max) / sum). So
 * log p equals logit - logsumexp(logits) to f32 rounding; only probabilities that underflow f32 are lost (-Infinity).
 */
export interface LlamaCppModel {
  /** Greedy continuation of `prompt` (token ids) for up to n tokens (argmax, no randomness); stops at end of generation. */
  greedy(prompt: number[], n: number): Promise<number[]>;
  /**
   * For each position i of `tokens`, llama.cpp's probability distribution over the next token (softmax of its
   * logits at temperature 1), sorted from the most to the least likely.
   */
  nextTokenProbabilities(tokens: number[]): Promise<Map<number, number>[]>;
  /** The same as dense log-probabilities over the whole vocabulary: [i][id] = log p(id | tokens[0..i]) (f64 logs of f32 probabilities). */
  logProbabilities(tokens: number[]): Promise<Float64Array[]>;
  /** Detokenize with llama.cpp's own vocabulary. */
  detokenize(tokens: number[]): string;
  /** Tokenize with llama.cpp's own tokenizer, without BOS (special-token text is not parsed). */
  tokenize(text: string): number[];
  /** Prefill `prompt`, then decode `n` tokens greedily; wall times of both (the first token's sampling counts as prefill). */
  timeGeneration(prompt: number[], n: number): Promise<{ prefillMs: number; decodeMs: number; tokens: number }>;
  /** Wall time of evaluating `tokens` into a fresh sequence without generating anything. */
  timePrefill(tokens: number[]): Promise<{ prefillMs: number; tokens: number }>;
  dispose(): Promise<void>;
}

type NodeLlamaCpp = typeof import('node-llama-cpp');

async function getCpuLlama(quiet: RegExp[] = []): Promise<{ lib: NodeLlamaCpp; llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>> }> {
  const lib = await import('node-llama-cpp');
  // build: 'never' uses the prebuilt binary and never compiles llama.cpp in a test; gpu: false keeps it on the CPU.
  const llama = await lib.getLlama({
    gpu: false,
    logLevel: lib.LlamaLogLevel.error,
    build: 'never',
    logger: (level, message) => {
      if (!quiet.some((q) => q.test(message))) console.error(`[node-llama-cpp] ${message}`);
    },
  });
  return { lib, llama };
}

/**
 * Load a GGUF in llama.cpp on the CPU. `f32Cache` keeps the KV cache in F32 instead of its default F16, so numbers can
 * be compared with an f32 engine to 1e-4 (with F16 keys and values the log-probabilities differ by up to ~1e-3).
 */
export async function loadLlamaCpp(
  ggufPath: string,
  opts: { threads?: number; contextSize?: number; f32Cache?: boolean } = {},
): Promise<LlamaCppModel> {
  const { llama } = await getCpuLlama();
  const contextSize = opts.contextSize ?? 512;
  // A file llama.cpp refuses must not leave the native instance alive (it would keep the process from exiting).
  const model = await llama.loadModel({ modelPath: ggufPath }).catch(async (e: unknown) => {
    await llama.dispose();
    throw e;
  });
  const context = await model
    .createContext({
      contextSize,
      threads: opts.threads,
      batchSize: contextSize,
      ...(opts.f32Cache ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false } : {}),
    })
    .catch(async (e: unknown) => {
      await model.dispose();
      await llama.dispose();
      throw e;
    });
  const sequence = context.getSequence();
  const reset = async () => sequence.clearHistory();

  const nextTokenProbabilities = async (tokens: number[]) => {
    await reset();
    const everything = { temperature: 1, topK: 0, topP: 1, minP: 0 };
    const input = tokens.map((t) => [t, { generateNext: { probabilities: true, options: everything } }] as const);
    const results = await sequence.controlledEvaluate(input as never);
    return results.map((r, i) => {
      if (!r?.next.probabilities) throw new Error(`${ggufPath}: llama.cpp returned no probabilities at position ${i}`);
      return new Map([...r.next.probabilities.entries()].map(([k, v]) => [Number(k), v]));
    });
  };

  return {
    greedy: async (prompt, n) => {
      await reset();
      const out: number[] = [];
      if (n <= 0) return out;
      // temperature 0 is argmax in node-llama-cpp's sampler; no repeat penalty is set, so nothing else moves it.
      for await (const token of sequence.evaluate(prompt as never, { temperature: 0 })) {
        out.push(token as number);
        if (out.length >= n) break;
      }
      return out;
    },
    nextTokenProbabilities,
    logProbabilities: async (tokens) => {
      // With top-k off the map holds every token of the vocabulary, zero probabilities included.
      return (await nextTokenProbabilities(tokens)).map((probs) => {
        const out = new Float64Array(probs.size).fill(-Infinity);
        for (const [id, p] of probs) out[id] = Math.log(p);
        return out;
      });
    },
    detokenize: (tokens) => model.detokenize(tokens as never),
    tokenize: (text) => model.tokenize(text).map(Number),
    timeGeneration: async (prompt, n) => {
      await reset();
      const start = performance.now();
      let prefillMs = 0;
      let count = 0;
      for await (const _ of sequence.evaluate(prompt as never, { temperature: 0 })) {
        if (count === 0) prefillMs = performance.now() - start;
        count++;
        if (count >= n) break;
      }
      return { prefillMs, decodeMs: performance.now() - start - prefillMs, tokens: count };
    },
    timePrefill: async (tokens) => {
      await reset();
      const start = performance.now();
      await sequence.evaluateWithoutGeneratingNewTokens(tokens as never);
      return { prefillMs: performance.now() - start, tokens: tokens.length };
    },
    dispose: async () => {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

/** llama.cpp's tokenizer alone (a vocab-only load: no weights are read, no context is made). */
export interface LlamaCppVocab {
  /** Without BOS/EOS; special-token text is not parsed. */
  tokenize(text: string): number[];
  detokenize(tokens: number[]): string;
  dispose(): Promise<void>;
}

export async function loadLlamaCppVocab(ggufPath: string): Promise<LlamaCppVocab> {
  // node-llama-cpp first estimates memory with a full (tensor-less) load of the file, which fails on a vocab-only
  // file and logs it; the vocab-only load that follows succeeds. Those two lines are noise here.
  const { llama } = await getCpuLlama([/missing tensor/, /failed to load model/]);
  const model = await llama.loadModel({ modelPath: ggufPath, vocabOnly: true }).catch(async (e: unknown) => {
    await llama.dispose();
    throw e;
  });
  return {
    tokenize: (text) => model.tokenize(text).map(Number),
    detokenize: (tokens) => model.detokenize(tokens as never),
    dispose: async () => {
      await model.dispose();
      await llama.dispose();
    },
  };
}
