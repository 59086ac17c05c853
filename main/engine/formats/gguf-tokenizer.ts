import { existsSync } from 'node:fs';
import path from 'node:path';
import { FormatError } from '../errors.ts';
import { JSON_FILE_LIMITS, parseJsonText } from '../fs/json-file.ts';
import { readRegularTextSync } from '../fs/regular-file.ts';
import { GgufValueType, TokenType, arr, bool, str, u32, type GgufValue } from './gguf-types.ts';

export interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean }[];
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; byte_fallback?: boolean };
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
}

const BYTE_TOKEN = /^<0x[0-9A-F]{2}>$/;

/**
 * The tokenizer.ggml.* metadata llama.cpp needs, from a Hugging Face tokenizer.json (+ tokenizer_config.json).
 * SentencePiece-style BPE with byte fallback (LLaMA 1/2, Mistral) becomes llama.cpp's "llama" (SPM) vocabulary;
 * byte-level BPE (LLaMA 3, Qwen2) becomes "gpt2" with its merges and the pre-tokenizer llama.cpp should use.
 *
 * SPM scores: llama.cpp's SPM tokenizer merges the adjacent pair whose joined piece scores highest, so the scores
 * must order pieces as tokenizer.json's merge list does (convert_hf_to_gguf.py writes -1000 for every piece of a
 * tokenizer.json-only model, which loses that order). See `spmScores`.
 */
export function ggufTokenizerMetadata(dir: string, vocabSize?: number): [string, GgufValue][] {
  const file = path.join(dir, 'tokenizer.json');
  if (!existsSync(file)) throw new FormatError('missing: GGUF export needs the model tokenizer.json', file, 'gguf/tokenizer');
  const json = readJsonIfThere(file) as TokenizerJson;
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = readJsonIfThere(configFile);
  // special_tokens_map.json names the special tokens when tokenizer_config.json does not (older checkpoints).
  const specialMap = readJsonIfThere(path.join(dir, 'special_tokens_map.json'));
  const model = json.model;
  if (!model || model.type !== 'BPE' || !model.vocab)
    throw new FormatError(`only BPE tokenizers can be exported to GGUF (model.type is ${model?.type})`, file, 'gguf/tokenizer');

  // A loop, not Math.max(...ids): spreading a 128k-token vocabulary overflows the call stack.
  let maxId = -1;
  for (const id of Object.values(model.vocab)) maxId = Math.max(maxId, id);
  for (const t of json.added_tokens ?? []) maxId = Math.max(maxId, t.id);
  if (vocabSize !== undefined && maxId >= vocabSize) {
    throw new FormatError(
      `token id ${maxId} is beyond config.json's vocab_size ${vocabSize}: the embeddings would not cover it`,
      file,
      'gguf/tokenizer',
    );
  }
  // The token list must be as long as the embedding matrix: ids the tokenizer does not use become unused pads.
  const size = vocabSize ?? maxId + 1;
  const tokens: string[] = new Array(size);
  const present = new Array<boolean>(size).fill(false);
  const set = (id: number, text: string) => {
    tokens[id] = text;
    present[id] = true;
  };
  for (const [t, id] of Object.entries(model.vocab)) set(id, t);
  const added = new Map((json.added_tokens ?? []).map((t) => [t.id, t]));
  for (const [id, t] of added) set(id, t.content);
  for (let i = 0; i < size; i++) if (!present[i]) tokens[i] = `[PAD${i}]`;
  const special = (key: string) => {
    const v = config[key] ?? specialMap[key];
    const text =
      typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String((v as { content: unknown }).content) : undefined;
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
    const scores = spmScores(tokens, types, model.merges ?? []);
    kvs.push(['tokenizer.ggml.model', str('llama')]);
    kvs.push(['tokenizer.ggml.tokens', arr(GgufValueType.STRING, tokens)]);
    kvs.push(['tokenizer.ggml.scores', arr(GgufValueType.FLOAT32, scores)]);
    kvs.push(['tokenizer.ggml.token_type', arr(GgufValueType.INT32, types)]);
  } else {
    const merges = (model.merges ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : m));
    kvs.push(['tokenizer.ggml.model', str('gpt2')]);
    kvs.push(['tokenizer.ggml.pre', str(preTokenizerName(json))]);
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
  kvs.push([
    'tokenizer.ggml.add_bos_token',
    bool(config.add_bos_token === undefined ? model.byte_fallback === true : Boolean(config.add_bos_token)),
  ]);
  kvs.push(['tokenizer.ggml.add_eos_token', bool(Boolean(config.add_eos_token))]);
  if (typeof config.chat_template === 'string') kvs.push(['tokenizer.chat_template', str(config.chat_template)]);
  return kvs;
}

/**
 * SPM scores from tokenizer.json. A vocabulary converted from SentencePiece keeps SentencePiece's piece order,
 * where a normal piece's score is minus its rank among normal pieces, and pieces made only of "▁" carry -1e9 (LLaMA
 * merges runs of spaces last). When those scores order the merge results exactly as the merge list does, they are
 * used (a test finds every one of them equal to llama.cpp's own LLaMA vocabulary file). Otherwise the scores come
 * from the merge ranks themselves: a piece scores minus the rank of the first merge that makes it, and pieces no
 * merge makes score below all of them.
 */
export function spmScores(tokens: string[], types: TokenType[], merges: (string | [string, string])[]): number[] {
  const firstNormal = types.indexOf(TokenType.NORMAL);
  const spm = types.map((type, id) => (type !== TokenType.NORMAL ? 0 : /^▁+$/.test(tokens[id]) ? -1e9 : -(id - firstNormal)));
  const idOf = new Map(tokens.map((t, id) => [t, id]));
  const firstRank = new Map<number, number>();
  merges.forEach((m, rank) => {
    const [a, b] = Array.isArray(m) ? m : splitMerge(m);
    const id = idOf.get(a + b);
    if (id !== undefined && !firstRank.has(id)) firstRank.set(id, rank);
  });
  const byRank = [...firstRank.keys()]; // Map keeps insertion order, which is rank order
  const consistent = byRank.every((id, i) => i === 0 || spm[id] <= spm[byRank[i - 1]]);
  if (consistent) return spm;
  return types.map((type, id) => (type !== TokenType.NORMAL ? 0 : firstRank.has(id) ? -firstRank.get(id)! : -(merges.length + id)));
}

function splitMerge(m: string): [string, string] {
  const at = m.indexOf(' ', 1); // a piece never starts with a space in byte-fallback vocabularies; "▁" stands for it
  return [m.slice(0, at), m.slice(at + 1)];
}

/**
 * llama.cpp's name for a byte-level BPE pre-tokenizer (tokenizer.ggml.pre), recognised from the split regex in
 * tokenizer.json: LLaMA 3's (digits in groups of up to 3) is "llama-bpe", Qwen2's (single digits) "qwen2", GPT-2's
 * own ByteLevel regex "gpt-2". Anything else gets "default", whose regex may split text differently.
 */
export function preTokenizerName(json: TokenizerJson): string {
  const pre = json.pre_tokenizer;
  const parts = pre?.type === 'Sequence' ? (pre.pretokenizers ?? []) : pre ? [pre] : [];
  const split = parts.find((p) => p.type === 'Split');
  const regex = (split as { pattern?: { Regex?: string } } | undefined)?.pattern?.Regex;
  if (regex) {
    if (regex.includes("(?i:'s|'t|'re|'ve|'m|'ll|'d)") && regex.includes('\\p{N}{1,3}')) return 'llama-bpe';
    if (regex.includes("(?i:'s|'t|'re|'ve|'m|'ll|'d)") && regex.includes('|\\p{N}|')) return 'qwen2';
    return 'default';
  }
  const byteLevel = parts.find((p) => p.type === 'ByteLevel') as { use_regex?: boolean } | undefined;
  if (byteLevel && byteLevel.use_regex !== false) return 'gpt-2';
  return 'default';
}

function readJsonIfThere(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  const limit = path.basename(file) === 'tokenizer.json' ? JSON_FILE_LIMITS.tokenizer : JSON_FILE_LIMITS.config;
  return parseJsonText(readRegularTextSync(file, { maxBytes: limit, what: path.basename(file) }), file, 'gguf/tokenizer') as Record<
    string,
    unknown
  >;
}
