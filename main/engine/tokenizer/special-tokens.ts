import type { Tokenizer } from '@huggingface/tokenizers';

/** The JSON files beside tokenizer.json that say which tokens are special (all optional). */
interface TokenizerSideFiles {
  /** tokenizer_config.json */
  config: Record<string, unknown>;
  /** special_tokens_map.json */
  specialMap: Record<string, unknown>;
  /** config.json, then generation_config.json over it (for bos_token_id / eos_token_id). */
  modelConfig: Record<string, unknown>;
  /** tokenizer.json itself (model.unk_token, post_processor). */
  tokenizerJson: Record<string, unknown>;
}

export interface SpecialTokens {
  bosId?: number;
  eosIds: number[];
  unkId?: number;
  padId?: number;
  /** Text of each special token, for chat templates (bos_token, eos_token, unk_token, pad_token). */
  text: Record<string, string>;
}

/** `"<s>"` or `{ "content": "<s>", ... }` (both spellings occur in tokenizer_config.json). */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && 'content' in v && typeof (v as { content: unknown }).content === 'string')
    return (v as { content: string }).content;
  return undefined;
}

function ids(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

/**
 * Which ids are BOS / EOS / UNK / PAD. As transformers does: tokenizer_config.json first, then
 * special_tokens_map.json; config.json / generation_config.json ids as fallbacks, and generation_config's extra
 * EOS ids (Llama 3 stops on several) added to the list.
 */
export function resolveSpecialTokens(inner: Tokenizer, f: TokenizerSideFiles): SpecialTokens {
  const text: Record<string, string> = {};
  const idOf = (key: string): number | undefined => {
    const t = tokenText(f.config[key]) ?? tokenText(f.specialMap[key]);
    if (t === undefined) return undefined;
    text[key] = t;
    return inner.token_to_id(t);
  };
  const bosId = idOf('bos_token') ?? ids(f.modelConfig.bos_token_id)[0];
  const eos = idOf('eos_token');
  const eosIds = [...new Set([...(eos === undefined ? [] : [eos]), ...ids(f.modelConfig.eos_token_id)])];
  const model = f.tokenizerJson.model as { unk_token?: unknown } | undefined;
  const unkFromModel = typeof model?.unk_token === 'string' ? inner.token_to_id(model.unk_token) : undefined;
  const unkId = idOf('unk_token') ?? unkFromModel;
  const padId = idOf('pad_token') ?? ids(f.modelConfig.pad_token_id)[0];
  for (const [key, id] of [
    ['bos_token', bosId],
    ['eos_token', eosIds[0]],
    ['unk_token', unkId],
  ] as const) {
    if (text[key] === undefined && id !== undefined) {
      const t = inner.id_to_token(id);
      if (t !== undefined) text[key] = t;
    }
  }
  return { bosId, eosIds, unkId, padId, text };
}

/**
 * Whether encode() should put BOS first by default: tokenizer_config.json's add_bos_token when it says, else
 * whatever tokenizer.json's post-processor does (LLaMA's TemplateProcessing adds `<s>`; Qwen2's adds nothing).
 */
export function addsBosByDefault(inner: Tokenizer, config: Record<string, unknown>, bosId: number | undefined): boolean {
  if (typeof config.add_bos_token === 'boolean') return config.add_bos_token && bosId !== undefined;
  if (bosId === undefined) return false;
  try {
    return inner.encode('a', { add_special_tokens: true }).ids[0] === bosId;
  } catch {
    return false;
  }
}
