import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { FormatError } from '../errors.ts';
import { GgufValueType, TokenType, arr, bool, str, u32, type GgufValue } from './gguf-types.ts';

interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean }[];
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; byte_fallback?: boolean };
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
}

const BYTE_TOKEN = /^<0x[0-9A-F]{2}>$/;

/**
 * The tokenizer.ggml.* metadata llama.cpp needs, from a Hugging Face tokenizer.json (+ tokenizer_config.json).
 * SentencePiece-style BPE with byte fallback (LLaMA 1/2, Mistral) becomes llama.cpp's "llama" (SPM) vocabulary;
 * byte-level BPE (LLaMA 3, Qwen2) becomes "gpt2" with its merges.
 *
 * SPM scores: tokenizer.json has no scores, but it keeps SentencePiece's piece order, where a piece's score is
 * minus its rank among the normal pieces; pieces made only of "▁" (runs of spaces) carry -1e9 in LLaMA's model so
 * they merge last. We rebuild both (a test checks every score against llama.cpp's own LLaMA vocabulary file).
 */
export function ggufTokenizerMetadata(dir: string): [string, GgufValue][] {
  const file = path.join(dir, 'tokenizer.json');
  if (!existsSync(file)) throw new FormatError('missing: GGUF export needs the model tokenizer.json', file, 'gguf/tokenizer');
  const json = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = existsSync(configFile) ? (JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>) : {};
  const model = json.model;
  if (!model || model.type !== 'BPE' || !model.vocab) throw new FormatError(`only BPE tokenizers can be exported to GGUF (model.type is ${model?.type})`, file, 'gguf/tokenizer');

  const size = Math.max(...Object.values(model.vocab), ...(json.added_tokens ?? []).map((t) => t.id)) + 1;
  const tokens: string[] = new Array(size);
  const present = new Array<boolean>(size).fill(false);
  const set = (id: number, text: string) => {
    tokens[id] = text;
    present[id] = true;
  };
  for (const [t, id] of Object.entries(model.vocab)) set(id, t);
  const added = new Map((json.added_tokens ?? []).map((t) => [t.id, t]));
  for (const [id, t] of added) set(id, t.content);
  for (let i = 0; i < size; i++) if (!present[i]) tokens[i] = `[PAD${i}]`; // holes in the id range become unused pads
  const special = (key: string) => {
    const v = config[key];
    const text = typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String((v as { content: unknown }).content) : undefined;
    return text === undefined ? undefined : tokens.indexOf(text);
  };
  const unkId = special('unk_token');
  const types = tokens.map((t, id) => {
    const a = added.get(id);
    if (id === unkId) return TokenType.UNKNOWN;
    if (a) return a.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
    if (!present[id]) return TokenType.UNUSED;
    if (model.byte_fallback && BYTE_TOKEN.test(t)) return TokenType.BYTE;
    return TokenType.NORMAL;
  });

  const kvs: [string, GgufValue][] = [];
  if (model.byte_fallback) {
    const firstNormal = types.indexOf(TokenType.NORMAL);
    const scores = types.map((type, id) => (type !== TokenType.NORMAL ? 0 : /^▁+$/.test(tokens[id]) ? -1e9 : -(id - firstNormal)));
    kvs.push(['tokenizer.ggml.model', str('llama')]);
    kvs.push(['tokenizer.ggml.tokens', arr(GgufValueType.STRING, tokens)]);
    kvs.push(['tokenizer.ggml.scores', arr(GgufValueType.FLOAT32, scores)]);
    kvs.push(['tokenizer.ggml.token_type', arr(GgufValueType.INT32, types)]);
  } else {
    const merges = (model.merges ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : m));
    kvs.push(['tokenizer.ggml.model', str('gpt2')]);
    kvs.push(['tokenizer.ggml.pre', str('default')]);
    kvs.push(['tokenizer.ggml.tokens', arr(GgufValueType.STRING, tokens)]);
    kvs.push(['tokenizer.ggml.token_type', arr(GgufValueType.INT32, types)]);
    kvs.push(['tokenizer.ggml.merges', arr(GgufValueType.STRING, merges)]);
  }
  const bos = special('bos_token');
  const eos = special('eos_token');
  const pad = special('pad_token');
  if (bos !== undefined && bos >= 0) kvs.push(['tokenizer.ggml.bos_token_id', u32(bos)]);
  if (eos !== undefined && eos >= 0) kvs.push(['tokenizer.ggml.eos_token_id', u32(eos)]);
  if (unkId !== undefined && unkId >= 0) kvs.push(['tokenizer.ggml.unknown_token_id', u32(unkId)]);
  if (pad !== undefined && pad >= 0) kvs.push(['tokenizer.ggml.padding_token_id', u32(pad)]);
  kvs.push(['tokenizer.ggml.add_bos_token', bool(config.add_bos_token === undefined ? model.byte_fallback === true : Boolean(config.add_bos_token))]);
  kvs.push(['tokenizer.ggml.add_eos_token', bool(Boolean(config.add_eos_token))]);
  if (typeof config.chat_template === 'string') kvs.push(['tokenizer.chat_template', str(config.chat_template)]);
  return kvs;
}
