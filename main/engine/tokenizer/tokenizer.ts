import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { FormatError } from '../errors.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Incremental detokenizer: push ids one at a time, get only the new, complete text. */
export interface StreamDecoder {
  push(id: number): string;
  /** Whatever is still held back (an incomplete UTF-8 sequence at the very end). */
  flush(): string;
}

/**
 * A model's tokenizer: `tokenizer.json` through @huggingface/tokenizers, with BOS/EOS and the chat template from
 * `tokenizer_config.json` (falling back to config.json / generation_config.json for the ids).
 */
export class StudioTokenizer {
  readonly bosId?: number;
  readonly eosIds: number[];
  readonly unkId?: number;
  readonly vocabSize: number;
  readonly chatTemplate?: string;
  /** Whether encode() puts BOS first by default (tokenizer_config.json add_bos_token; LLaMA: true). */
  readonly addBosByDefault: boolean;

  constructor(
    private readonly inner: Tokenizer,
    tokenizerJson: { added_tokens?: { id: number; content: string }[]; model?: { vocab?: Record<string, number> | unknown[] } },
    readonly config: Record<string, unknown>,
    modelConfig: Record<string, unknown>,
  ) {
    const tokenText = (v: unknown) => (typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String((v as { content: unknown }).content) : undefined);
    const idOf = (v: unknown) => {
      const t = tokenText(v);
      return t === undefined ? undefined : inner.token_to_id(t);
    };
    this.bosId = idOf(config.bos_token) ?? numberOr(modelConfig.bos_token_id);
    const eos = idOf(config.eos_token);
    const configEos = modelConfig.eos_token_id;
    const fromConfig = Array.isArray(configEos) ? configEos.filter((x) => typeof x === 'number') : typeof configEos === 'number' ? [configEos] : [];
    this.eosIds = [...new Set([...(eos === undefined ? [] : [eos]), ...fromConfig])];
    this.unkId = idOf(config.unk_token);
    const vocab = tokenizerJson.model?.vocab;
    const base = Array.isArray(vocab) ? vocab.length : vocab ? Object.keys(vocab).length : 0;
    const added = tokenizerJson.added_tokens ?? [];
    this.vocabSize = Math.max(base, ...added.map((t) => t.id + 1));
    this.chatTemplate = typeof config.chat_template === 'string' ? config.chat_template : undefined;
    this.addBosByDefault = config.add_bos_token === undefined ? this.bosId !== undefined : Boolean(config.add_bos_token);
  }

  /** Token ids of `text`; BOS first when asked (default: as the tokenizer config says), EOS last when asked. */
  encode(text: string, opts: { addBos?: boolean; addEos?: boolean } = {}): number[] {
    const ids = this.inner.encode(text, { add_special_tokens: false }).ids.map(Number);
    if ((opts.addBos ?? this.addBosByDefault) && this.bosId !== undefined) ids.unshift(this.bosId);
    if (opts.addEos && this.eosIds.length) ids.push(this.eosIds[0]);
    return ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    return this.inner.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  /** Render the chat template (Jinja, as transformers' apply_chat_template does). */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.chatTemplate) throw new FormatError('this tokenizer has no chat_template', 'tokenizer_config.json', 'tokenizer/no-chat-template');
    const special = (k: string) => {
      const v = this.config[k];
      return typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String((v as { content: unknown }).content) : '';
    };
    return new Template(this.chatTemplate).render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: special('bos_token'),
      eos_token: special('eos_token'),
    });
  }

  /**
   * Stream decoding: the text of all ids so far is decoded and only what is new is returned. A trailing U+FFFD
   * (the first bytes of a character split over byte-fallback tokens) is held back until the character completes,
   * so a stream of Chinese never shows a broken character and the pushes add up to decode(all).
   */
  createStreamDecoder(): StreamDecoder {
    const ids: number[] = [];
    let emitted = '';
    const take = (final: boolean) => {
      let text = this.decode(ids);
      if (!final) while (text.endsWith('\uFFFD')) text = text.slice(0, -1);
      if (!text.startsWith(emitted)) return ''; // a later token rewrote earlier text (rare): wait for flush
      const fresh = text.slice(emitted.length);
      emitted = text;
      return fresh;
    };
    return {
      push: (id: number) => {
        ids.push(id);
        return take(false);
      },
      flush: () => take(true),
    };
  }
}

function numberOr(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function readJson(file: string, required: boolean): Record<string, unknown> | undefined {
  if (!existsSync(file)) {
    if (required) throw new FormatError('missing: the model folder needs a tokenizer.json (Hugging Face fast tokenizer)', file, 'tokenizer/missing');
    return undefined;
  }
  try {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, file, 'tokenizer/json');
  }
}

/** Load `dir/tokenizer.json` with its configs. */
export async function loadTokenizer(dir: string): Promise<StudioTokenizer> {
  const tokenizerFile = path.join(dir, 'tokenizer.json');
  const json = readJson(tokenizerFile, true)!;
  const config = readJson(path.join(dir, 'tokenizer_config.json'), false) ?? {};
  const modelConfig = {
    ...(readJson(path.join(dir, 'config.json'), false) ?? {}),
    ...(readJson(path.join(dir, 'generation_config.json'), false) ?? {}),
  };
  let inner: Tokenizer;
  try {
    inner = new Tokenizer(json, config);
    inner.encode('probe');
  } catch (e) {
    throw new FormatError(`not a tokenizer @huggingface/tokenizers can load (${(e as Error).message})`, tokenizerFile, 'tokenizer/invalid');
  }
  return new StudioTokenizer(inner, json as never, config, modelConfig);
}
