import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { ggufTokenizerMetadata, preTokenizerName, spmScores, type TokenizerJson } from '../../main/engine/formats/gguf-tokenizer.ts';
import { TokenType, f32, str, u32, type GgufValue } from '../../main/engine/formats/gguf-types.ts';
import { writeGguf } from '../../main/engine/formats/gguf-writer.ts';
import { loadLlamaCppVocab, type LlamaCppVocab } from '../../main/engine/system/llama-cpp.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { tinyModel, writeSpmTokenizerWithMerges } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

const LLAMA = 'tokenizers/llama';
const VOCAB = 'tokenizers/llama-gguf-vocab/ggml-vocab-llama-spm.gguf';
const dir = workFolder('gguf-tokenizer');

/** A vocab-only GGUF: the llama hyperparameters llama.cpp insists on reading, and the tokenizer metadata. */
async function vocabOnlyGguf(file: string, tokenizerKvs: [string, GgufValue][]): Promise<void> {
  const arch: [string, GgufValue][] = [
    ['general.architecture', str('llama')],
    ['llama.context_length', u32(4096)],
    ['llama.embedding_length', u32(4096)],
    ['llama.block_count', u32(32)],
    ['llama.feed_forward_length', u32(11008)],
    ['llama.rope.dimension_count', u32(128)],
    ['llama.attention.head_count', u32(32)],
    ['llama.attention.head_count_kv', u32(32)],
    ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
  ];
  await writeGguf(file, [...arch, ...tokenizerKvs], []);
}

describe.skipIf(missingShared(`${LLAMA}/tokenizer.json`, VOCAB, `${VOCAB}.inp`, `${VOCAB}.out`))('LLaMA SentencePiece vocabulary', () => {
  // Read in beforeAll, not while vitest collects: a skipped block's body still runs at collection.
  let mine: Map<string, unknown>;
  let llamaCpp: LlamaCppVocab;
  beforeAll(async () => {
    mine = new Map(ggufTokenizerMetadata(sharedPath(LLAMA)).map(([k, v]) => [k, v.value]));
    const file = path.join(dir, 'llama-vocab.gguf');
    await vocabOnlyGguf(file, ggufTokenizerMetadata(sharedPath(LLAMA)));
    llamaCpp = await loadLlamaCppVocab(file);
  });
  afterAll(async () => {
    await llamaCpp?.dispose();
  });

  // One test: the real LLaMA vocabulary is an extra check (the rules run on written vocabularies below).
  it("matches llama.cpp's own vocabulary file token by token; llama.cpp's tokenizer on our vocab-only GGUF passes its 46 cases", async () => {
    const theirs = await readGguf(sharedPath(VOCAB)); // also proves our reader on a file we did not write
    expect(mine.get('tokenizer.ggml.model')).toBe('llama');
    const ourTokens = mine.get('tokenizer.ggml.tokens') as string[];
    const theirTokens = theirs.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(ourTokens.length).toBe(32000);
    expect(theirTokens.length).toBe(32000);
    // One piece (id 31353) is an empty string in this tokenizer.json itself; every other token is identical.
    expect(ourTokens.map((t, i) => (t === theirTokens[i] ? -1 : i)).filter((i) => i >= 0)).toEqual([31353]);
    expect(ourTokens[31353]).toBe('');
    expect(mine.get('tokenizer.ggml.token_type')).toEqual(theirs.metadata.get('tokenizer.ggml.token_type'));
    const types = mine.get('tokenizer.ggml.token_type') as number[];
    expect([types[0], types[1], types[2], types[3], types[258], types[259]]).toEqual([
      TokenType.UNKNOWN,
      TokenType.CONTROL,
      TokenType.CONTROL,
      TokenType.BYTE,
      TokenType.BYTE,
      TokenType.NORMAL,
    ]);
    const ourScores = mine.get('tokenizer.ggml.scores') as number[];
    const theirScores = theirs.metadata.get('tokenizer.ggml.scores') as number[];
    expect(ourScores.map((s, i) => (Math.fround(s) === theirScores[i] ? -1 : i)).filter((i) => i >= 0)).toEqual([]);
    for (const [k, v] of [
      ['tokenizer.ggml.bos_token_id', 1],
      ['tokenizer.ggml.eos_token_id', 2],
      ['tokenizer.ggml.unknown_token_id', 0],
      ['tokenizer.ggml.add_bos_token', true],
      ['tokenizer.ggml.add_eos_token', false],
    ] as const) {
      expect([k, mine.get(k)]).toEqual([k, v]);
      expect([k, theirs.metadata.get(k)]).toEqual([k, v]);
    }

    // A full load of the vocab-only file fails cleanly (llama.cpp wants the tensors), so the load above really was vocab-only.
    const { loadLlamaCpp } = await import('../../main/engine/system/llama-cpp.ts');
    await expect(loadLlamaCpp(path.join(dir, 'llama-vocab.gguf'))).rejects.toThrow();

    // llama.cpp's 46 test cases. Scores as convert_hf_to_gguf.py writes them for a tokenizer.json-only model (all -1000) fail 16 of them.
    const inputs = readFileSync(sharedPath(`${VOCAB}.inp`), 'utf8').split('\n__ggml_vocab_test__\n');
    inputs.pop(); // the file ends with a separator
    const expected = readFileSync(sharedPath(`${VOCAB}.out`), 'utf8').split('\n');
    expect(inputs.length).toBe(46);
    inputs.forEach((text, i) => {
      const want = expected[i].trim() === '' ? [] : expected[i].trim().split(/\s+/).map(Number);
      expect(llamaCpp.tokenize(text), `case ${i}: ${JSON.stringify(text)}`).toEqual(want);
    });
  });
});

// The parts of the check above that need no real vocabulary, on a SentencePiece-style tokenizer written here (the
// character tokenizer plus merges), so llama.cpp's SPM tokenizer must follow the scores we derive.
describe('SentencePiece-style vocabulary with merges (written here)', () => {
  const tokDir = path.join(dir, 'spm-merges');
  const { tokenizer, config, firstMerged, size: next } = writeSpmTokenizerWithMerges(tokDir);
  const file = path.join(dir, 'spm-merges.gguf');

  it('becomes a "llama" vocabulary: unknown, control and byte token types, BOS/EOS/UNK ids, add_bos', () => {
    const kv = new Map(ggufTokenizerMetadata(tokDir).map(([k, v]) => [k, v.value]));
    expect(kv.get('tokenizer.ggml.model')).toBe('llama');
    const tokens = kv.get('tokenizer.ggml.tokens') as string[];
    expect(tokens.length).toBe(next);
    expect(tokens.slice(-3)).toEqual(['▁and', 'er', '▁▁']);
    const types = kv.get('tokenizer.ggml.token_type') as number[];
    expect([types[0], types[1], types[2], types[3], types[258], types[259], types[next - 1]]).toEqual([
      TokenType.UNKNOWN,
      TokenType.CONTROL,
      TokenType.CONTROL,
      TokenType.BYTE,
      TokenType.BYTE,
      TokenType.NORMAL,
      TokenType.NORMAL,
    ]);
    for (const [k, v] of [
      ['tokenizer.ggml.bos_token_id', 1],
      ['tokenizer.ggml.eos_token_id', 2],
      ['tokenizer.ggml.unknown_token_id', 0],
      ['tokenizer.ggml.add_bos_token', true],
      ['tokenizer.ggml.add_eos_token', false],
    ] as const)
      expect([k, kv.get(k)]).toEqual([k, v]);
  });

  it("llama.cpp's SPM tokenizer on our vocab-only GGUF gives the ids @huggingface/tokenizers gives (merges, byte fallback); a full load of it fails", async () => {
    await vocabOnlyGguf(file, ggufTokenizerMetadata(tokDir));
    const llamaCpp = await loadLlamaCppVocab(file);
    try {
      const hf = new Tokenizer(tokenizer, config);
      let merged = 0;
      for (const text of ['the other and an answer', 'then in  the  inn', 'Hello, there! ünder 中文 🙂', '   ', 'theander']) {
        const want: number[] = hf.encode(text, { add_special_tokens: false }).ids.map(Number);
        merged += want.filter((id) => id >= firstMerged).length;
        expect(llamaCpp.tokenize(text), JSON.stringify(text)).toEqual(want);
      }
      expect(merged).toBeGreaterThan(5); // the merges were really used, not only single characters
    } finally {
      await llamaCpp.dispose();
    }
    // llama.cpp wants the tensors for a full load: the load above really was vocab-only.
    const { loadLlamaCpp } = await import('../../main/engine/system/llama-cpp.ts');
    await expect(loadLlamaCpp(file)).rejects.toThrow();
  });
});

/** GPT-2's byte → printable-character table, which byte-level BPE vocabularies are written in. */
function byteChars(): string[] {
  const keep = [...range(33, 126), ...range(161, 172), ...range(174, 255)];
  let extra = 0;
  return range(0, 255).map((b) => String.fromCodePoint(keep.includes(b) ? b : 256 + extra++));
}
function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** LLaMA 3's pre-tokenizer regex as its tokenizer.json spells it. */
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

describe('byte-level BPE (LLaMA 3 style) vocabulary', () => {
  const chars = byteChars();
  const vocab: Record<string, number> = Object.fromEntries(chars.map((c, i) => [c, i]));
  // '3 4' ranks first so that digit groups decide the ids: split into groups of 3 (LLaMA 3) "1234567" is 123|456|7,
  // as one GPT-2 chunk it would become 12|34|...
  const merges: [string, string][] = [
    ['3', '4'],
    ['Ġ', 't'],
    ['h', 'e'],
    ['Ġt', 'he'],
    ['1', '2'],
    ['12', '3'],
    ['i', 'n'],
    ['Ġ', 'in'],
    ['Ċ', 'Ċ'],
    ['Ġthe', 'n'],
  ];
  for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length;
  const size = Object.keys(vocab).length;
  const tokenizerJson = {
    version: '1.0',
    added_tokens: [
      { id: size, content: '<|begin_of_text|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: size + 1, content: '<|end_of_text|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_REGEX }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const tokenizerConfig = {
    bos_token: '<|begin_of_text|>',
    eos_token: '<|end_of_text|>',
    add_bos_token: true,
    chat_template: "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
  };
  const tokDir = path.join(dir, 'byte-level');
  mkdirSync(tokDir, { recursive: true });
  writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));

  it('becomes a "gpt2" vocabulary with merges, the llama-bpe pre-tokenizer, control tokens and the chat template', () => {
    const kv = new Map(ggufTokenizerMetadata(tokDir).map(([k, v]) => [k, v.value]));
    expect(kv.get('tokenizer.ggml.model')).toBe('gpt2');
    expect(kv.get('tokenizer.ggml.pre')).toBe('llama-bpe');
    expect(kv.get('tokenizer.ggml.merges')).toEqual(merges.map((m) => m.join(' ')));
    expect((kv.get('tokenizer.ggml.tokens') as string[]).slice(size)).toEqual(['<|begin_of_text|>', '<|end_of_text|>']);
    expect((kv.get('tokenizer.ggml.token_type') as number[]).slice(size - 1)).toEqual([
      TokenType.NORMAL,
      TokenType.CONTROL,
      TokenType.CONTROL,
    ]);
    expect(kv.has('tokenizer.ggml.scores')).toBe(false);
    expect([kv.get('tokenizer.ggml.bos_token_id'), kv.get('tokenizer.ggml.eos_token_id')]).toEqual([size, size + 1]);
    expect(kv.get('tokenizer.chat_template')).toBe(tokenizerConfig.chat_template);
  });

  it("llama.cpp's BPE tokenizer on our GGUF gives the ids @huggingface/tokenizers gives (digit groups, spaces, newlines, UTF-8)", async () => {
    const file = path.join(dir, 'byte-level.gguf');
    await vocabOnlyGguf(file, ggufTokenizerMetadata(tokDir));
    const llamaCpp = await loadLlamaCppVocab(file);
    try {
      const hf = new Tokenizer(tokenizerJson, tokenizerConfig);
      for (const text of ['the then in', ' the 1234567 then', 'inthe\n\n\nthe  in', "it's 12,345 — Grüße 🦙", '   ']) {
        const want = hf.encode(text, { add_special_tokens: false }).ids.map(Number);
        expect(llamaCpp.tokenize(text), JSON.stringify(text)).toEqual(want);
      }
      expect(llamaCpp.detokenize(hf.encode(' the 1234567 then', { add_special_tokens: false }).ids.map(Number))).toBe(' the 1234567 then');
    } finally {
      await llamaCpp.dispose();
    }
  });
});

describe('tokenizer metadata helpers', () => {
  it('takes special tokens from special_tokens_map.json when tokenizer_config.json has none, and names bad JSON files', async () => {
    const d = path.join(dir, 'special-map');
    mkdirSync(d, { recursive: true });
    // The tiny model's SentencePiece-style tokenizer, written by the test.
    writeFileSync(path.join(d, 'tokenizer.json'), readFileSync(path.join(await tinyModel(), 'tokenizer.json')));
    writeFileSync(
      path.join(d, 'special_tokens_map.json'),
      JSON.stringify({ bos_token: { content: '<s>' }, eos_token: '</s>', unk_token: '<unk>' }),
    );
    const kv = new Map(ggufTokenizerMetadata(d).map(([k, v]) => [k, v.value]));
    expect([
      kv.get('tokenizer.ggml.bos_token_id'),
      kv.get('tokenizer.ggml.eos_token_id'),
      kv.get('tokenizer.ggml.unknown_token_id'),
    ]).toEqual([1, 2, 0]);
    // Padded to config.json's vocab_size (the embedding rows) with unused pieces; a tokenizer beyond it is refused.
    const tokens = kv.get('tokenizer.ggml.tokens') as string[];
    const n = tokens.length;
    const padded = new Map(ggufTokenizerMetadata(d, n + 8).map(([k, v]) => [k, v.value]));
    expect((padded.get('tokenizer.ggml.tokens') as string[]).slice(n - 2)).toEqual([
      ...tokens.slice(n - 2),
      ...range(n, n + 7).map((i) => `[PAD${i}]`),
    ]);
    expect((padded.get('tokenizer.ggml.token_type') as number[]).slice(n)).toEqual(new Array(8).fill(TokenType.UNUSED));
    expect((padded.get('tokenizer.ggml.scores') as number[]).length).toBe(n + 8);
    expect(() => ggufTokenizerMetadata(d, n - 12)).toThrow(`token id ${n - 1} is beyond config.json's vocab_size ${n - 12}`);
    writeFileSync(path.join(d, 'tokenizer_config.json'), '{"bos_token": ');
    expect(() => ggufTokenizerMetadata(d)).toThrow(/tokenizer_config\.json: not valid JSON/);
  });

  const tokens = ['<unk>', 'a', 'b', 'c', 'ab', 'bc', 'abc', '▁▁'];
  const types = [TokenType.UNKNOWN, ...new Array(7).fill(TokenType.NORMAL)];
  it('keeps SentencePiece order scores when the merge list agrees with them', () => {
    expect(spmScores(tokens, types, ['a b', 'b c', 'ab c', '▁ ▁'])).toEqual([0, -0, -1, -2, -3, -4, -5, -1e9]);
  });
  it('derives scores from merge ranks when the vocabulary order disagrees with the merges', () => {
    // "bc" merges before "ab" here: llama.cpp must then prefer "bc", whatever the ids say.
    const scores = spmScores(tokens, types, ['b c', 'a b', 'a bc', '▁ ▁']);
    expect(scores[5]).toBeGreaterThan(scores[4]);
    expect(scores[4]).toBeGreaterThan(scores[6]);
    expect(scores[6]).toBeGreaterThan(scores[7]);
    expect(scores[1]).toBeLessThan(scores[7]); // pieces no merge makes come last
  });
  it('names the pre-tokenizer llama.cpp should use', () => {
    const split = (regex: string): TokenizerJson => ({
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: regex } } as never, { type: 'ByteLevel' }] },
    });
    expect(preTokenizerName(split(LLAMA3_REGEX))).toBe('llama-bpe');
    expect(preTokenizerName(split(LLAMA3_REGEX.replace('\\p{N}{1,3}', '\\p{N}')))).toBe('qwen2');
    expect(preTokenizerName({ pre_tokenizer: { type: 'ByteLevel' } })).toBe('gpt-2');
    expect(preTokenizerName(split('\\s+'))).toBe('default');
  });
});
