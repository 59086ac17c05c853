/**
 * llama.cpp through node-llama-cpp, used to check our exports against an implementation we did not write, and as
 * the reference in benchmarks. Imported lazily: the engine runs without it.
 */
export interface LlamaCppModel {
  /** Greedy continuation of `prompt` (token ids) for up to n tokens; stops at EOS. */
  greedy(prompt: number[], n: number): Promise<number[]>;
  /**
   * For each position i of `tokens`, llama.cpp's probability distribution over the next token (softmax of its
   * logits at temperature 1): the closest node-llama-cpp 3.21 comes to exposing raw logits.
   */
  nextTokenProbabilities(tokens: number[]): Promise<Map<number, number>[]>;
  /** Detokenize with llama.cpp's own vocabulary. */
  detokenize(tokens: number[]): string;
  tokenize(text: string): number[];
  /** Prefill `prompt`, then decode `n` tokens greedily; wall times of both. */
  timeGeneration(prompt: number[], n: number): Promise<{ prefillMs: number; decodeMs: number; tokens: number }>;
  dispose(): Promise<void>;
}

/**
 * `f32Cache` keeps llama.cpp's KV cache in F32 instead of its default F16, so numbers can be compared with an f32
 * engine to 1e-4 (with F16 keys and values the log-probabilities differ by up to ~1e-3).
 */
export async function loadLlamaCpp(ggufPath: string, opts: { threads?: number; contextSize?: number; f32Cache?: boolean } = {}): Promise<LlamaCppModel> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, logLevel: 'error' as never, build: 'never' });
  const model = await llama.loadModel({ modelPath: ggufPath });
  const context = await model.createContext({
    contextSize: opts.contextSize ?? 512,
    threads: opts.threads,
    batchSize: opts.contextSize ?? 512,
    ...(opts.f32Cache ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false } : {}),
  });
  const sequence = context.getSequence();
  const reset = async () => sequence.clearHistory();

  return {
    async greedy(prompt, n) {
      await reset();
      const out: number[] = [];
      for await (const token of sequence.evaluate(prompt as never, { temperature: 0 })) {
        if (model.isSpecialToken(token) && token === model.tokens.eos) break;
        out.push(token as number);
        if (out.length >= n) break;
      }
      return out;
    },
    async nextTokenProbabilities(tokens) {
      await reset();
      const input = tokens.map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] as const);
      const results = await sequence.controlledEvaluate(input as never);
      return results.map((r) => new Map([...(r?.next.probabilities ?? new Map()).entries()].map(([k, v]) => [Number(k), v])));
    },
    detokenize: (tokens) => model.detokenize(tokens as never),
    tokenize: (text) => model.tokenize(text).map(Number),
    async timeGeneration(prompt, n) {
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
    async dispose() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
