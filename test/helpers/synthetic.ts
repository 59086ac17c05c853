import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Prng } from '../../main/engine/data/prng.ts';
import { charTokenizerJson } from '../../main/engine/synthetic/char-tokenizer.ts';
import { TINYLLAMA_1B_SHAPE, writeSyntheticModel, type SyntheticShape } from '../../main/engine/synthetic/synthetic-model.ts';
import { workFolder } from './work-folder.ts';

/**
 * Models and data the tests write themselves, so every proof that needs no trained weights runs in a fresh clone.
 * The model is made by the project's one generator (main/engine/synthetic/synthetic-model.ts), the one the demo and
 * the benchmarks use.
 */

/** stories260K's sizes (GQA 8:4, tied embeddings, 512 ids), so the synthetic proofs run the shapes of the real one. */
export const TINY_SHAPE: SyntheticShape = {
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 5,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 512,
  tie_word_embeddings: true,
  max_position_embeddings: 512,
};

/** TinyLlama-1.1B's widths (its config.json), any number of layers. */
const { num_hidden_layers: _layers, max_position_embeddings: _context, ...widths } = TINYLLAMA_1B_SHAPE;
export const TINYLLAMA_WIDTHS = widths;

/** Lower-case letters and ` .,?`: a character tokenizer of 289 ids, for models whose vocabulary is a few hundred. */
export const LOWERCASE_ALPHABET = 'abcdefghijklmnopqrstuvwxyz .,?';

const ENGLISH_WORDS = [
  'river',
  'stone',
  'garden',
  'window',
  'candle',
  'planet',
  'forest',
  'bridge',
  'silver',
  'orange',
  'market',
  'winter',
];
const CHINESE_WORDS = ['河流', '石头', '花园', '窗户', '蜡烛', '星球', '森林', '桥梁', '银色', '橙子', '市场', '冬天'];

/**
 * Every character the synthetic rows and the built-in templates use, so the character tokenizer has a piece for
 * each (anything else still encodes, through byte fallback).
 */
export const TINY_ALPHABET =
  Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('') +
  CHINESE_WORDS.join('') +
  '把这个词重复两遍：的第一字是什么倒过来写';

const models = new Map<string, Promise<string>>();

/**
 * A tiny LLaMA folder (random weights, a SentencePiece-style character tokenizer) in a fresh temp folder, written
 * once per test file, shape and seed.
 */
export function tinyModel(shape: SyntheticShape = TINY_SHAPE, seed = 7): Promise<string> {
  const key = JSON.stringify([shape, seed]);
  let dir = models.get(key);
  if (!dir) {
    const out = workFolder('tiny-llama');
    dir = writeSyntheticModel(out, shape, { alphabet: TINY_ALPHABET }, { seed }).then(() => out);
    models.set(key, dir);
  }
  return dir;
}

export interface AlpacaRow {
  instruction: string;
  input: string;
  output: string;
}

/**
 * `count` instruction rows with answers a small model can learn (repeat, reverse, first letter), some with an
 * input: English or Chinese. The same seed gives the same rows.
 */
export function tinyAlpacaRows(count: number, language: 'en' | 'zh' = 'en', seed = 1): AlpacaRow[] {
  const prng = new Prng(seed);
  const words = language === 'en' ? ENGLISH_WORDS : CHINESE_WORDS;
  return Array.from({ length: count }, (_, i) => {
    const word = words[prng.nextInt(words.length)];
    const reversed = [...word].reverse().join('');
    const kind = i % 3;
    if (language === 'zh') {
      if (kind === 0) return { instruction: `把这个词重复两遍：${word}`, input: '', output: `${word}${word}` };
      if (kind === 1) return { instruction: '这个词的第一个字是什么？', input: word, output: [...word][0] };
      return { instruction: '把这个词倒过来写。', input: word, output: reversed };
    }
    if (kind === 0) return { instruction: `Repeat the word ${word} twice.`, input: '', output: `${word} ${word}` };
    if (kind === 1) return { instruction: 'What is the first letter of this word?', input: word, output: word[0] };
    return { instruction: 'Write this word backwards.', input: word, output: reversed };
  });
}

/** tinyAlpacaRows written as an Alpaca JSON file in a fresh temp folder; returns its path. */
export function tinyAlpacaFile(count = 64, language: 'en' | 'zh' = 'en', seed = 1): string {
  const file = path.join(workFolder('tiny-alpaca'), `alpaca_${language}.json`);
  writeFileSync(file, JSON.stringify(tinyAlpacaRows(count, language, seed), null, 2));
  return file;
}

/** A small Alpaca-style data file in LOWERCASE_ALPHABET. */
export function writeLowercaseAlpaca(file: string, rows = 24): void {
  const words = ['red', 'blue', 'cat', 'dog', 'sun', 'moon', 'tree', 'river'];
  const data = Array.from({ length: rows }, (_, i) => ({
    instruction: `name a thing like ${words[i % words.length]}`,
    input: '',
    output: `a ${words[(i * 3 + 1) % words.length]} and a ${words[(i * 5 + 2) % words.length]}.`,
  }));
  writeFileSync(file, JSON.stringify(data));
}

/**
 * A SentencePiece-style tokenizer written into `dir` (tokenizer.json + tokenizer_config.json): the character tokenizer
 * of the synthetic models (lower-case letters and ` .,!?`, byte fallback) plus merges listed by rank, as a
 * SentencePiece conversion lists them. What it adds to the character tokenizer is what real ones need: GGUF scores
 * taken from the merge list, which llama.cpp's SPM tokenizer must follow. `firstMerged` is the first merged piece's id.
 */
export function writeSpmTokenizerWithMerges(dir: string): { tokenizer: object; config: object; firstMerged: number; size: number } {
  const { tokenizer, config } = charTokenizerJson('abcdefghijklmnopqrstuvwxyz .,!?');
  const json = tokenizer as { model: { vocab: Record<string, number>; merges: string[] } };
  // '▁t' before 'he' before '▁the', and so on.
  const merges = ['▁ t', 'h e', '▁t he', 'i n', '▁ a', '▁the r', 'a n', '▁a n', '▁an d', 'e r', '▁ ▁'];
  const vocab = json.model.vocab;
  const firstMerged = Math.max(...Object.values(vocab)) + 1;
  let next = firstMerged;
  for (const m of merges) vocab[m.replace(' ', '')] ??= next++;
  json.model.merges = merges;
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  return { tokenizer, config, firstMerged, size: next };
}
