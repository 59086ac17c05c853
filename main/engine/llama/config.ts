import path from 'node:path';
import { z } from 'zod';
import { FormatError, StudioError } from '../errors.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import type { ProjectionName } from './projection-names.ts';

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
const hfConfigSchema = z
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
    use_sliding_window: z.boolean().optional(),
    layer_types: z.array(z.string()).optional(),
  })
  .passthrough();

type HfConfig = z.infer<typeof hfConfigSchema>;

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
  /**
   * The projections that carry a bias, as transformers builds them: Qwen2's q/k/v always; all four attention
   * projections of a model whose config.json says attention_bias (LlamaAttention); none otherwise.
   */
  attentionBiases: readonly ProjectionName[];
  bosTokenId?: number;
  eosTokenIds: number[];
  torchDtype?: string;
  /**
   * Sliding-window attention as transformers applies it (each position sees only the last `slidingWindow` positions),
   * or undefined. Within the window it is plain causal attention, so the engine treats the window as the usable
   * context: longer sequences are refused (training) or stop (generation), never attended to in full.
   */
  slidingWindow?: number;
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
    attentionBiases:
      modelType === 'qwen2' ? ['q_proj', 'k_proj', 'v_proj'] : c.attention_bias ? ['q_proj', 'k_proj', 'v_proj', 'o_proj'] : [],
    bosTokenId: c.bos_token_id ?? undefined,
    eosTokenIds: eos === null || eos === undefined ? [] : Array.isArray(eos) ? eos : [eos],
    torchDtype: c.torch_dtype ?? undefined,
    slidingWindow: slidingWindowOf(c, modelType),
    raw: json as Record<string, unknown>,
  };
}

/**
 * Where transformers applies config.json's sliding_window: Mistral (and other model types that declare one) always;
 * Qwen2 only with use_sliding_window; a model whose layer_types name sliding layers; never LLaMA, whose attention
 * ignores the field.
 */
function slidingWindowOf(c: HfConfig, modelType: string): number | undefined {
  const w = c.sliding_window ?? undefined;
  if (w === undefined || w <= 0) return undefined;
  if (c.layer_types?.includes('sliding_attention')) return w;
  if (modelType === 'llama') return undefined;
  if (modelType === 'qwen2' || modelType === 'qwen2_moe') return c.use_sliding_window === true ? w : undefined;
  return w;
}

/**
 * The longest sequence the engine runs through this model unchanged: max_position_embeddings, or the sliding window
 * when it is shorter (within it, windowed attention equals full causal attention under every convention in use;
 * transformers' eager mask and its flash-attention path differ by one position at the window's edge, so the engine
 * does not attend beyond it).
 */
export function usableContext(config: LlamaConfig): { tokens: number; by: 'max_position_embeddings' | 'sliding_window' } {
  if (config.slidingWindow !== undefined && config.slidingWindow < config.maxPositions)
    return { tokens: config.slidingWindow, by: 'sliding_window' };
  return { tokens: config.maxPositions, by: 'max_position_embeddings' };
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

/** Read `<dir>/config.json` (a regular file only, size-capped, read asynchronously). */
export async function loadLlamaConfig(dir: string): Promise<LlamaConfig> {
  const file = path.join(dir, 'config.json');
  let json: unknown;
  try {
    json = await readJsonFile(file, { maxBytes: JSON_FILE_LIMITS.config, what: 'config.json', code: 'config/json' });
  } catch (e) {
    if (e instanceof FormatError || (e instanceof StudioError && e.code !== 'fs/enoent')) throw e;
    throw new FormatError(`cannot read config.json (${(e as Error).message.replace(`${file}: `, '')})`, file, 'config/missing');
  }
  return parseLlamaConfig(json, file);
}
