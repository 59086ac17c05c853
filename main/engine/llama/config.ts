import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { FormatError } from '../errors.ts';

/** Llama-3's frequency-dependent RoPE scaling; linear/dynamic types scale positions by `factor`. */
const ropeScalingSchema = z
  .object({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    factor: z.number().positive().optional(),
    low_freq_factor: z.number().optional(),
    high_freq_factor: z.number().optional(),
    original_max_position_embeddings: z.number().int().positive().optional(),
  })
  .passthrough();

const positiveInt = z.number().int().positive();

/**
 * Upper bounds on the sizes config.json declares, a few times above the largest LLaMA-family models (Llama 3.1 405B:
 * 126 layers, hidden 16384, intermediate 53248, 128 heads, vocab 128256; Llama 4 Scout: 10M positions). Work and
 * memory grow with these numbers before any weight is read, so an absurd file (num_hidden_layers 1e9) is refused
 * here, in microseconds, instead of freezing the studio.
 */
export const CONFIG_LIMITS = {
  num_hidden_layers: 1024,
  hidden_size: 131_072,
  intermediate_size: 524_288,
  num_attention_heads: 2048,
  num_key_value_heads: 2048,
  head_dim: 4096,
  vocab_size: 4_194_304,
  max_position_embeddings: 16_777_216,
} as const;

const bounded = (field: keyof typeof CONFIG_LIMITS) =>
  positiveInt.max(
    CONFIG_LIMITS[field],
    `at most ${CONFIG_LIMITS[field].toLocaleString('en-US')} (far above any LLaMA-family model); is this file a real model config?`,
  );

/** The fields of a Hugging Face config.json that LLaMA-family models (LLaMA 1/2/3, Mistral, Qwen2) use. */
export const hfConfigSchema = z
  .object({
    model_type: z.string().optional(),
    architectures: z.array(z.string()).optional(),
    hidden_size: bounded('hidden_size'),
    intermediate_size: bounded('intermediate_size'),
    num_hidden_layers: bounded('num_hidden_layers'),
    num_attention_heads: bounded('num_attention_heads'),
    num_key_value_heads: bounded('num_key_value_heads').optional(),
    head_dim: bounded('head_dim').optional(),
    vocab_size: bounded('vocab_size'),
    max_position_embeddings: bounded('max_position_embeddings').optional(),
    rms_norm_eps: z.number().positive().default(1e-6),
    rope_theta: z.number().positive().default(10000),
    rope_scaling: ropeScalingSchema.nullable().optional(),
    tie_word_embeddings: z.boolean().default(false),
    attention_bias: z.boolean().optional(),
    hidden_act: z.string().optional(),
    bos_token_id: z.number().int().nullable().optional(),
    eos_token_id: z
      .union([z.number().int(), z.array(z.number().int())])
      .nullable()
      .optional(),
    pad_token_id: z.number().int().nullable().optional(),
    torch_dtype: z.string().nullable().optional(),
    sliding_window: z.number().int().nullable().optional(),
  })
  .passthrough();

export type HfConfig = z.infer<typeof hfConfigSchema>;

export type RopeScaling =
  | { kind: 'none' }
  | { kind: 'linear'; factor: number }
  | { kind: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

/** The resolved, checked configuration the engine works with. */
export interface LlamaConfig {
  /** 'llama' | 'mistral' | 'qwen2' | ... as config.json says (default 'llama'). */
  modelType: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2). */
  qkvBias: boolean;
  bosTokenId?: number;
  eosTokenIds: number[];
  torchDtype?: string;
  /** The config.json object as read, kept so exports can copy it faithfully. */
  raw: Record<string, unknown>;
}

/** The context assumed when config.json gives no max_position_embeddings (LLaMA 1's). */
export const DEFAULT_MAX_POSITIONS = 2048;

const SUPPORTED_ACTIVATIONS = new Set(['silu', 'swish']);

/** Parse and check a config.json object; `file` names it in every error. */
export function parseLlamaConfig(json: unknown, file = 'config.json'): LlamaConfig {
  const parsed = hfConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new FormatError(`invalid config: ${problems}`, file, 'config/invalid');
  }
  const c = parsed.data;
  const numKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % numKvHeads !== 0) {
    throw new FormatError(
      `num_key_value_heads (${numKvHeads}) does not divide num_attention_heads (${c.num_attention_heads})`,
      file,
      'config/gqa',
    );
  }
  if (c.head_dim === undefined && c.hidden_size % c.num_attention_heads !== 0) {
    throw new FormatError(
      `hidden_size (${c.hidden_size}) is not a multiple of num_attention_heads (${c.num_attention_heads}) and no head_dim is given`,
      file,
      'config/head-dim',
    );
  }
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (headDim % 2 !== 0) {
    throw new FormatError(`head_dim (${headDim}) must be even for RoPE`, file, 'config/head-dim');
  }
  if (c.hidden_act && !SUPPORTED_ACTIVATIONS.has(c.hidden_act)) {
    throw new FormatError(`hidden_act "${c.hidden_act}" is not supported (LLaMA-family models use silu)`, file, 'config/act');
  }
  const modelType = c.model_type ?? 'llama';
  const eos = c.eos_token_id;
  return {
    modelType,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads,
    headDim,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings ?? DEFAULT_MAX_POSITIONS,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    ropeScaling: parseRopeScaling(c.rope_scaling ?? null, file),
    tieWordEmbeddings: c.tie_word_embeddings,
    qkvBias: c.attention_bias ?? modelType === 'qwen2',
    bosTokenId: c.bos_token_id ?? undefined,
    eosTokenIds: eos === null || eos === undefined ? [] : Array.isArray(eos) ? eos : [eos],
    torchDtype: c.torch_dtype ?? undefined,
    raw: json as Record<string, unknown>,
  };
}

function parseRopeScaling(s: z.infer<typeof ropeScalingSchema> | null, file: string): RopeScaling {
  if (!s) return { kind: 'none' };
  const type = s.rope_type ?? s.type ?? 'default';
  if (type === 'default') return { kind: 'none' };
  if (s.factor === undefined) throw new FormatError(`rope_scaling (${type}) needs a factor`, file, 'config/rope');
  if (type === 'linear') return { kind: 'linear', factor: s.factor };
  if (type === 'llama3') {
    if (s.low_freq_factor === undefined || s.high_freq_factor === undefined || !s.original_max_position_embeddings) {
      throw new FormatError(
        'rope_scaling (llama3) needs low_freq_factor, high_freq_factor and original_max_position_embeddings',
        file,
        'config/rope',
      );
    }
    return {
      kind: 'llama3',
      factor: s.factor,
      lowFreqFactor: s.low_freq_factor,
      highFreqFactor: s.high_freq_factor,
      originalMaxPositions: s.original_max_position_embeddings,
    };
  }
  throw new FormatError(`rope_scaling type "${type}" is not supported (supported: linear, llama3)`, file, 'config/rope');
}

/** Read `<dir>/config.json`. */
export function loadLlamaConfig(dir: string): LlamaConfig {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FormatError(`cannot read config.json (${(e as Error).message})`, file, 'config/missing');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, file, 'config/json');
  }
  return parseLlamaConfig(json, file);
}
