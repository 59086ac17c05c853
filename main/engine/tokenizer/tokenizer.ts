import { existsSync } from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { FormatError } from '../errors.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import { addsBosByDefault, resolveSpecialTokens, type SpecialTokens } from './special-tokens.ts';
import { CLEANUP_HOLD_BACK, createStreamDecoder, type StreamDecoder } from './stream-decoder.ts';

interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

interface EncodeOptions {
  /** Put BOS first. Default: tokenizer_config.json add_bos_token, else what tokenizer.json's post-processor does. */
  addBos?: boolean;
  /** Put EOS last. Default: tokenizer_config.json add_eos_token (false for LLaMA). */
  addEos?: boolean;
}

/**
 * A model's tokenizer: `tokenizer.json` through @huggingface/tokenizers, with BOS/EOS and the chat template from
 * `tokenizer_config.json` / `special_tokens_map.json` (config.json / generation_config.json ids as fallbacks).
 */
export class StudioTokenizer {
  readonly bosId?: number;
  /** Every id that ends generation; the first is the one training appends. */
  readonly eosIds: number[];
  readonly unkId?: number;
  readonly padId?: number;
  /** Ids 0..vocabSize-1: the model's vocabulary and the added tokens. */
  readonly vocabSize: number;
  readonly chatTemplate?: string;
  /** Whether encode() puts BOS first when not told (LLaMA: true). */
  readonly addBosByDefault: boolean;
  readonly addEosByDefault: boolean;
  /** The most characters one token's text holds (its vocabulary's longest piece): bounds how much text n tokens cover. */
  readonly longestTokenChars: number;
  private readonly specialText: Record<string, string>;

  constructor(
    private readonly inner: Tokenizer,
    tokenizerJson: Record<string, unknown>,
    /** tokenizer_config.json ({} when absent). */
    readonly config: Record<string, unknown>,
    special: SpecialTokens,
  ) {
    this.bosId = special.bosId;
    this.eosIds = special.eosIds;
    this.unkId = special.unkId;
    this.padId = special.padId;
    this.specialText = special.text;
    this.vocabSize = vocabSizeOf(tokenizerJson);
    this.longestTokenChars = longestPieceOf(tokenizerJson);
    this.chatTemplate = chatTemplateOf(config.chat_template);
    this.addBosByDefault = addsBosByDefault(inner, config, this.bosId);
    this.addEosByDefault = config.add_eos_token === true && this.eosIds.length > 0;
  }

  /**
   * Token ids of `text`. Special-token text inside `text` (e.g. "</s>") is matched as the special token, as HF
   * tokenizers do; BOS/EOS are added here rather than by the post-processor so that addBos/addEos decide.
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = this.inner.encode(text, { add_special_tokens: false }).ids.map(Number);
    if ((opts.addBos ?? this.addBosByDefault) && this.bosId !== undefined) ids.unshift(this.bosId);
    if ((opts.addEos ?? this.addEosByDefault) && this.eosIds.length > 0) ids.push(this.eosIds[0]);
    return ids;
  }

  /**
   * The first `limit` ids of encode(text, opts), tokenizing only as much of a long text as they need: a 20 MB row cut
   * to a few hundred tokens costs a few kilobytes of tokenization, not the whole row. A prefix of the text gives the
   * same first tokens as the whole text (BPE and SentencePiece decide each token from text nearby), which is checked:
   * the head is accepted only when a prefix twice as long gives the same `limit` ids; otherwise the prefix grows.
   * `total` is the token count of the whole text when `exact`, else of the prefix read (a lower bound).
   */
  encodeHead(text: string, limit: number, opts: EncodeOptions = {}): { ids: number[]; total: number; exact: boolean } {
    const margin = 64;
    let chars = Math.max(1024, (limit + margin) * this.longestTokenChars);
    while (2 * chars < text.length) {
      const a = this.encode(prefix(text, chars), { ...opts, addEos: false });
      if (a.length >= limit + margin) {
        const b = this.encode(prefix(text, 2 * chars), { ...opts, addEos: false });
        if (a.slice(0, limit).every((id, i) => b[i] === id)) return { ids: b.slice(0, limit), total: b.length, exact: false };
      }
      chars *= 2;
    }
    const all = this.encode(text, opts);
    return { ids: all.slice(0, limit), total: all.length, exact: true };
  }

  /** Text of `ids`; special tokens (BOS, EOS, ...) are left out unless skipSpecialTokens is false. */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return ''; // the library throws on an empty list
    return this.inner.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  /** Render the chat template (Jinja) with the variables transformers' apply_chat_template passes. */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; extra?: Record<string, unknown> } = {}): string {
    if (!this.chatTemplate)
      throw new FormatError('this tokenizer has no chat_template', 'tokenizer_config.json', 'tokenizer/no-chat-template');
    let template: Template;
    try {
      template = new Template(this.chatTemplate);
    } catch (e) {
      throw new FormatError(`chat_template does not parse (${(e as Error).message})`, 'tokenizer_config.json', 'tokenizer/chat-template');
    }
    const vars = {
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: this.specialText.bos_token ?? '',
      eos_token: this.specialText.eos_token ?? '',
      unk_token: this.specialText.unk_token ?? '',
      pad_token: this.specialText.pad_token ?? '',
    };
    try {
      return template.render(vars);
    } catch (e) {
      // the library's own raise_exception() lands here, with the template's message
      throw new FormatError(`chat template: ${(e as Error).message}`, 'tokenizer_config.json', 'tokenizer/chat-template');
    }
  }

  /**
   * An incremental decoder for generation: push(id) returns only new, complete text; the pushes (plus flush())
   * add up to decode(all ids) with the same skipSpecialTokens.
   */
  createStreamDecoder(opts: { skipSpecialTokens?: boolean } = {}): StreamDecoder {
    // @huggingface/tokenizers cleans up spaces unless tokenizer_config.json says not to (LLaMA-2 says not to)
    const cleansUp = this.config.clean_up_tokenization_spaces !== false;
    return createStreamDecoder((ids) => this.decode(ids, opts), { holdBack: cleansUp ? CLEANUP_HOLD_BACK : undefined });
  }
}

function vocabSizeOf(json: Record<string, unknown>): number {
  const model = json.model as { vocab?: Record<string, number> | unknown[] } | undefined;
  const vocab = model?.vocab;
  const base = Array.isArray(vocab) ? vocab.length : vocab ? Math.max(0, ...Object.values(vocab).map((id) => id + 1)) : 0;
  const added = (json.added_tokens as { id: number }[] | undefined) ?? [];
  return Math.max(base, ...added.map((t) => t.id + 1));
}

/** The longest piece of a tokenizer.json's vocabulary (BPE: an object of pieces; Unigram: [piece, score] pairs). */
function longestPieceOf(json: Record<string, unknown>): number {
  const vocab = (json.model as { vocab?: Record<string, number> | [string, number][] } | undefined)?.vocab;
  const pieces = Array.isArray(vocab) ? vocab.map((v) => String(v[0])) : vocab ? Object.keys(vocab) : [];
  let longest = 1;
  for (const p of pieces) if (p.length > longest) longest = p.length;
  for (const t of (json.added_tokens as { content?: string }[] | undefined) ?? []) longest = Math.max(longest, t.content?.length ?? 0);
  return Math.min(longest, 256);
}

/** The first `n` characters of `text`, never ending inside a surrogate pair. */
function prefix(text: string, n: number): string {
  const code = text.charCodeAt(n - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

/** chat_template is a string, or a list of named templates (the one named "default" is used). */
function chatTemplateOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default') as
      { template?: unknown } | undefined;
    return typeof named?.template === 'string' ? named.template : undefined;
  }
  return undefined;
}

async function readJson(file: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(file)) {
    if (required)
      throw new FormatError('missing: the model folder needs a tokenizer.json (Hugging Face fast tokenizer)', file, 'tokenizer/missing');
    return undefined;
  }
  const big = path.basename(file) === 'tokenizer.json';
  const v = await readJsonFile(file, {
    maxBytes: big ? JSON_FILE_LIMITS.tokenizer : JSON_FILE_LIMITS.config,
    what: path.basename(file),
    code: 'tokenizer/json',
  });
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new FormatError('not valid JSON for this file: expected an object', file, 'tokenizer/json');
  return v as Record<string, unknown>;
}

/** Load `dir/tokenizer.json` with tokenizer_config.json, special_tokens_map.json, config.json and generation_config.json. */
export async function loadTokenizer(dir: string): Promise<StudioTokenizer> {
  const tokenizerFile = path.join(dir, 'tokenizer.json');
  const json = (await readJson(tokenizerFile, true))!;
  const config = (await readJson(path.join(dir, 'tokenizer_config.json'), false)) ?? {};
  const specialMap = (await readJson(path.join(dir, 'special_tokens_map.json'), false)) ?? {};
  const modelConfig = {
    ...((await readJson(path.join(dir, 'config.json'), false)) ?? {}),
    ...((await readJson(path.join(dir, 'generation_config.json'), false)) ?? {}),
  };
  let inner: Tokenizer;
  try {
    inner = new Tokenizer(json, config);
    inner.encode('probe');
  } catch (e) {
    throw new FormatError(`not a tokenizer @huggingface/tokenizers can load (${(e as Error).message})`, tokenizerFile, 'tokenizer/invalid');
  }
  const special = resolveSpecialTokens(inner, { config, specialMap, modelConfig, tokenizerJson: json });
  return new StudioTokenizer(inner, json, config, special);
}
