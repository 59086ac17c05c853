import { LLAMA_7B_SHAPE, TINYLLAMA_1B_SHAPE, type SyntheticShape } from '../../main/engine/synthetic/synthetic-model.ts';

/** The model shapes the GPU kit trains: the TinyLlama-1.1B and 7B sizes, and tiny stand-ins for the dry run. */
export const KIT_SHAPES: Record<string, SyntheticShape & { vocab_size: number }> = {
  // TinyLlama-1.1B's config.json (GQA: 4 key/value heads for 32 query heads).
  'tinyllama-1.1b': TINYLLAMA_1B_SHAPE,
  // LLaMA-2-7B's config.json.
  'llama-7b': LLAMA_7B_SHAPE,
  // The correctness model: small enough for PyTorch on a CPU and for JSON logits, GQA and untied head like TinyLlama.
  check: { hidden_size: 64, intermediate_size: 160, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 512, tie_word_embeddings: false },
  // The dry run's benchmark model (SwiftShader): TinyLlama's proportions at 1/32 of its width.
  'tiny-bench': { hidden_size: 64, intermediate_size: 176, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 512, tie_word_embeddings: false },
};
