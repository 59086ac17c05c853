import { describe, expect, it } from 'vitest';
import { CONFIG_LIMITS, parseLlamaConfig, usableContext } from '../../main/engine/llama/config.ts';
import { ropeInverseFrequencies } from '../../main/engine/model/rope.ts';

const llama2 = {
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  vocab_size: 32000,
  rms_norm_eps: 1e-5,
  max_position_embeddings: 4096,
};

describe('config.json parsing', () => {
  it.each(Object.entries(CONFIG_LIMITS))('refuses %s above its bound %d, naming config.json and the field', (field, limit) => {
    const file = '/models/absurd/config.json';
    expect(() => parseLlamaConfig({ ...llama2, [field]: limit + 1 }, file)).toThrow(
      new RegExp(`^${file}: invalid config: ${field}: at most [\\d,]+ `),
    );
    expect(() => parseLlamaConfig({ ...llama2, [field]: 1e9 }, file)).toThrow(/far above any LLaMA-family model/);
  });

  it('fills LLaMA-2 defaults (no GQA, theta 10000, untied)', () => {
    const c = parseLlamaConfig(llama2);
    expect(c).toMatchObject({
      numKvHeads: 32,
      headDim: 128,
      ropeTheta: 10000,
      tieWordEmbeddings: false,
      attentionBiases: [],
      eosTokenIds: [],
    });
  });

  it('reads LLaMA-3.1 GQA, eos list and llama3 rope scaling', () => {
    const c = parseLlamaConfig({
      ...llama2,
      num_key_value_heads: 8,
      vocab_size: 128256,
      rope_theta: 500000,
      eos_token_id: [128001, 128008, 128009],
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    expect(c.numKvHeads).toBe(8);
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(c.ropeScaling).toEqual({ kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
    // transformers' _compute_llama3_parameters: high frequencies unchanged, low ones divided by factor.
    const inv = ropeInverseFrequencies(c);
    const plain = (i: number) => 1 / Math.pow(500000, (2 * i) / 128);
    expect(inv[0]).toBeCloseTo(plain(0), 12);
    expect(inv[63]).toBeCloseTo(plain(63) / 8, 18);
    // A band frequency is a blend of scaled and unscaled.
    const i = inv.findIndex((v, k) => v !== plain(k) && Math.abs(v - plain(k) / 8) > 1e-15);
    expect(inv[i]).toBeLessThan(plain(i));
    expect(inv[i]).toBeGreaterThan(plain(i) / 8);
  });

  it('reads Qwen2 (q/k/v bias by model type), Mistral, explicit head_dim and tied embeddings', () => {
    expect(parseLlamaConfig({ ...llama2, model_type: 'qwen2', num_key_value_heads: 4 }).attentionBiases).toEqual([
      'q_proj',
      'k_proj',
      'v_proj',
    ]);
    // transformers' LlamaAttention: attention_bias puts a bias on all four attention projections.
    expect(parseLlamaConfig({ ...llama2, attention_bias: true }).attentionBiases).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj']);
    expect(parseLlamaConfig({ ...llama2, model_type: 'mistral', num_key_value_heads: 8, sliding_window: 4096 }).modelType).toBe('mistral');
    expect(parseLlamaConfig({ ...llama2, head_dim: 64 }).headDim).toBe(64);
    expect(parseLlamaConfig({ ...llama2, tie_word_embeddings: true }).tieWordEmbeddings).toBe(true);
  });

  // transformers: MistralAttention windows whenever sliding_window is set; Qwen2 only with use_sliding_window (or
  // layer_types naming sliding layers); LlamaAttention never reads the field.
  it.each([
    [
      'Mistral v0.1 (a 4096 window in a 32k context)',
      { model_type: 'mistral', sliding_window: 4096, max_position_embeddings: 32768 },
      4096,
      'sliding_window',
    ],
    [
      'Mistral v0.2 (no window)',
      { model_type: 'mistral', sliding_window: null, max_position_embeddings: 32768 },
      32768,
      'max_position_embeddings',
    ],
    ['a window wider than the context', { model_type: 'mistral', sliding_window: 8192 }, 4096, 'max_position_embeddings'],
    [
      'Qwen2 with use_sliding_window false',
      { model_type: 'qwen2', sliding_window: 2048, use_sliding_window: false },
      4096,
      'max_position_embeddings',
    ],
    ['Qwen2 with use_sliding_window true', { model_type: 'qwen2', sliding_window: 2048, use_sliding_window: true }, 2048, 'sliding_window'],
    [
      'layer_types with sliding layers',
      { model_type: 'llama', sliding_window: 1024, layer_types: ['sliding_attention', 'full_attention'] },
      1024,
      'sliding_window',
    ],
    ['LLaMA (the field is ignored by its attention)', { model_type: 'llama', sliding_window: 1024 }, 4096, 'max_position_embeddings'],
  ])('sliding_window as transformers applies it: %s', (_what, fields, tokens, by) => {
    expect(usableContext(parseLlamaConfig({ ...llama2, ...fields }))).toEqual({ tokens, by });
  });

  it('rejects missing and inconsistent fields with messages that name the file and field', () => {
    const { hidden_size: _, ...noHidden } = llama2;
    expect(() => parseLlamaConfig(noHidden, 'm/config.json')).toThrow(/m\/config\.json: invalid config: hidden_size/);
    expect(() => parseLlamaConfig({ ...llama2, num_key_value_heads: 3 }, 'c.json')).toThrow(
      'c.json: num_key_value_heads (3) does not divide num_attention_heads (32)',
    );
    expect(() => parseLlamaConfig({ ...llama2, hidden_size: 4000, num_attention_heads: 48 })).toThrow(/not a multiple/);
    expect(() => parseLlamaConfig({ ...llama2, hidden_act: 'gelu' })).toThrow(/hidden_act "gelu"/);
    expect(() => parseLlamaConfig({ ...llama2, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/yarn/);
    expect(() => parseLlamaConfig({ ...llama2, num_hidden_layers: -1 })).toThrow(/num_hidden_layers/);
  });
});
