import { readFile, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type StudioTokenizer } from '../../main/engine/tokenizer/tokenizer.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { TINY_ALPHABET, tinyAlpacaRows, tinyModel } from '../helpers/synthetic.ts';
import { charTokenizerJson } from '../../main/engine/synthetic/char-tokenizer.ts';
import { workFolder } from '../helpers/work-folder.ts';

const LLAMA = 'tokenizers/llama';
const STORIES = 'models/stories260K';
const VOCAB_TESTS = 'tokenizers/llama-gguf-vocab/ggml-vocab-llama-spm.gguf';
const ZH = 'alpaca/alpaca_zh_demo.json';

/** Every push of a stream decoder, then its flush. */
function streamPieces(tok: StudioTokenizer, ids: number[], opts?: { skipSpecialTokens?: boolean }): { pieces: string[]; rest: string } {
  const stream = tok.createStreamDecoder(opts);
  const pieces = ids.map((id) => stream.push(id));
  return { pieces, rest: stream.flush() };
}

describe.skipIf(missingShared(`${LLAMA}/tokenizer.json`, `${VOCAB_TESTS}.inp`, `${VOCAB_TESTS}.out`))(
  'LLaMA tokenizer against llama.cpp',
  () => {
    // llama.cpp's test-tokenizer-0 tokenizes each case with add_special = false (no BOS) and the SentencePiece
    // dummy-prefix space that the LLaMA vocab adds itself; the .out line is the ids it must give.
    // One test: the real LLaMA tokenizer is an extra check (the rules run on the tiny tokenizer below).
    it("passes all 46 of llama.cpp's tokenizer test cases; reads BOS/EOS/UNK and the defaults; renders LLaMA-2's chat template", async () => {
      const tok = await loadTokenizer(sharedPath(LLAMA));
      const inputs = (await readFile(sharedPath(`${VOCAB_TESTS}.inp`), 'utf8')).split('\n__ggml_vocab_test__\n');
      expect(inputs.pop()).toBe(''); // the file ends with a separator
      const expected = (await readFile(sharedPath(`${VOCAB_TESTS}.out`), 'utf8')).replace(/\n$/, '').split('\n');
      expect(inputs.length).toBe(46);
      expect(expected.length).toBe(46);
      inputs.forEach((text, i) => {
        const want = expected[i].trim() === '' ? [] : expected[i].trim().split(/\s+/).map(Number);
        expect(tok.encode(text, { addBos: false }), `case ${i}: ${JSON.stringify(text)}`).toEqual(want);
      });

      expect([tok.bosId, tok.eosIds, tok.unkId, tok.padId, tok.vocabSize]).toEqual([1, [2], 0, 0, 32000]);
      expect([tok.idToToken(1), tok.tokenToId('</s>'), tok.tokenToId('▁Hello')]).toEqual(['<s>', 2, 15043]);
      expect(tok.encode('Hello')).toEqual([1, 15043]); // add_bos_token: true
      expect(tok.encode('Hello', { addEos: true })).toEqual([1, 15043, 2]);
      expect(tok.encode('Hello', { addBos: false })).toEqual([15043]);
      expect(tok.decode([1, 15043, 2])).toBe('Hello');
      expect(tok.decode([1, 15043, 2], { skipSpecialTokens: false })).toBe('<s> Hello</s>');
      expect(tok.decode([])).toBe('');
      // LLaMA-2's own chat template, from its tokenizer_config.json, and its raise_exception.
      const chat = [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Bye' },
      ];
      expect(tok.applyChatTemplate(chat)).toBe(
        '<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]',
      );
      expect(() => tok.applyChatTemplate([{ role: 'assistant', content: 'x' }])).toThrow(
        /tokenizer_config\.json: chat template: Conversation roles must alternate/,
      );
    });
  },
);

/** encode → decode and the stream decoder give each text back; returns how many byte-fallback pieces were used. */
function roundTrips(tok: StudioTokenizer, texts: string[]): number {
  let byteTokens = 0;
  for (const text of texts) {
    const ids = tok.encode(text, { addEos: true });
    expect(ids[0]).toBe(tok.bosId);
    expect(ids.at(-1)).toBe(tok.eosIds[0]);
    expect(tok.decode(ids)).toBe(text);
    byteTokens += ids.filter((id) => /^<0x[0-9A-F]{2}>$/.test(tok.idToToken(id) ?? '')).length;
    const { pieces, rest } = streamPieces(tok, ids);
    expect(pieces.join('')).toBe(text); // complete without flush
    expect(rest).toBe('');
    expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
  }
  return byteTokens;
}

// The tiny model's tokenizer (SentencePiece-style: one piece per character it was written for, byte fallback for
// every other character) runs the Chinese checks in a fresh clone; the real tokenizers are an extra check.
describe('Chinese text round-trips', () => {
  let tiny: StudioTokenizer;
  beforeAll(async () => {
    tiny = await loadTokenizer(await tinyModel());
  });

  it('the tiny tokenizer: encode → decode and the stream decoder give the text back, byte pieces included', () => {
    const texts = tinyAlpacaRows(30, 'zh').map((r) => `${r.instruction}\n${r.input}${r.output}`);
    texts.push('植物利用阳光把二氧化碳和水变成糖和氧气。', '混合 mixed 文字, emoji 🙂 and 中文');
    expect(roundTrips(tiny, texts)).toBeGreaterThan(0); // the byte-fallback path was really exercised
  });

  it('spells unknown characters with byte tokens, and the stream holds a character back until its last byte', () => {
    const ids = tiny.encode('中文 ok', { addBos: false });
    expect(ids.map((id) => tiny.idToToken(id))).toEqual(['▁', '<0xE4>', '<0xB8>', '<0xAD>', '<0xE6>', '<0x96>', '<0x87>', '▁', 'o', 'k']);
    // A lone '▁' is held back too, and comes out with the piece after it.
    expect(streamPieces(tiny, ids).pieces).toEqual(['', '', '', '中', '', '', '文', '', ' o', 'k']);
  });

  it.skipIf(missingShared(ZH, `${LLAMA}/tokenizer.json`, `${STORIES}/tokenizer.json`))(
    'the LLaMA and stories260K tokenizers on alpaca_zh_demo; stories260K spells Chinese with bytes',
    async () => {
      const rows = (JSON.parse(await readFile(sharedPath(ZH), 'utf8')) as { instruction: string; output: string }[]).slice(0, 50);
      for (const dir of [LLAMA, STORIES]) {
        expect(
          roundTrips(
            await loadTokenizer(sharedPath(dir)),
            rows.map((row) => `${row.instruction}\n${row.output}`),
          ),
          dir,
        ).toBeGreaterThan(0);
      }
      const tok = await loadTokenizer(sharedPath(STORIES));
      const ids = tok.encode('中文 ok', { addBos: false });
      expect(ids.map((id) => tok.idToToken(id))).toEqual(['▁', '<0xE4>', '<0xB8>', '<0xAD>', '<0xE6>', '<0x96>', '<0x87>', '▁o', 'k']);
      expect(streamPieces(tok, ids).pieces).toEqual(['', '', '', '中', '', '', '文', ' o', 'k']);
    },
  );
});

describe('stream decoder', () => {
  it('keeps the space after a skipped special token (SentencePiece strips only the very first one)', async () => {
    const tok = await loadTokenizer(await tinyModel());
    const ids = [1, ...tok.encode('Hello', { addBos: false }), 2, ...tok.encode('world', { addBos: false }), 2];
    expect(tok.decode(ids)).toBe('Hello world');
    const { pieces, rest } = streamPieces(tok, ids);
    // One piece per character here: BOS, '▁' (the first space, stripped), H e l l o, EOS, then a lone '▁' is held
    // back until the next piece, which must come out with its space.
    expect(pieces).toEqual(['', '', 'H', 'e', 'l', 'l', 'o', '', '', ' w', 'o', 'r', 'l', 'd', '']);
    expect(rest).toBe('');
    // A lone '▁' decodes to '' at the start of a window: the next piece must still get its space.
    const [a, space, b] = [tok.tokenToId('a')!, tok.tokenToId('▁')!, tok.tokenToId('b')!];
    expect(tok.decode([a, space, b])).toBe('a b');
    expect(streamPieces(tok, [a, space, b]).pieces.join('')).toBe('a b');
    const raw = streamPieces(tok, ids, { skipSpecialTokens: false });
    expect(raw.pieces.join('') + raw.rest).toBe(tok.decode(ids, { skipSpecialTokens: false }));
  });

  // The tiny tokenizer always; the LLaMA and stories260K ones (real merges) when ../shared/data is there.
  const dirs = async () => [
    await tinyModel(),
    ...(missingShared(`${LLAMA}/tokenizer.json`, `${STORIES}/tokenizer.json`) ? [] : [sharedPath(LLAMA), sharedPath(STORIES)]),
  ];
  it('pushes plus flush equal decode(all) for any id sequence (fast-check)', async () => {
    for (const dir of await dirs()) streamEqualsDecode(await loadTokenizer(dir));
  });
});

function streamEqualsDecode(tok: StudioTokenizer): void {
  const bytes = Array.from({ length: 256 }, (_, b) => tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!);
  // Mostly byte pieces (to split characters every way, valid or not), with ordinary and special tokens between.
  const id = fc.oneof(
    fc.constantFrom(...bytes),
    fc.integer({ min: 0, max: tok.vocabSize - 1 }),
    fc.constantFrom(0, 1, 2, tok.tokenToId('▁')!),
  );
  fc.assert(
    fc.property(fc.array(id, { minLength: 1, maxLength: 24 }), (ids) => {
      const { pieces, rest } = streamPieces(tok, ids);
      expect(pieces.join('') + rest).toBe(tok.decode(ids));
    }),
    { numRuns: 300, seed: 1 },
  );
}

// The special-token part of the LLaMA check, on the tiny tokenizer (SentencePiece-style, written by the test).
describe('special tokens of a SentencePiece-style tokenizer', () => {
  it('reads BOS/EOS/UNK and add_bos_token; encodes with and without them; decodes with and without special tokens', async () => {
    const tok = await loadTokenizer(await tinyModel());
    expect([tok.bosId, tok.eosIds, tok.unkId, tok.vocabSize]).toEqual([1, [2], 0, charTokenizerJson(TINY_ALPHABET).vocabSize]);
    expect([tok.idToToken(1), tok.tokenToId('</s>'), tok.idToToken(tok.tokenToId('H')!)]).toEqual(['<s>', 2, 'H']);
    const hi = [tok.tokenToId('▁')!, tok.tokenToId('H')!, tok.tokenToId('i')!];
    expect(tok.encode('Hi')).toEqual([1, ...hi]); // add_bos_token: true
    expect(tok.encode('Hi', { addEos: true })).toEqual([1, ...hi, 2]);
    expect(tok.encode('Hi', { addBos: false })).toEqual(hi);
    expect(tok.decode([1, ...hi, 2])).toBe('Hi');
    expect(tok.decode([1, ...hi, 2], { skipSpecialTokens: false })).toBe('<s> Hi</s>');
    expect(tok.decode([])).toBe('');
  });
});

describe('tokenizer files', () => {
  it('names the file when tokenizer.json is missing, not JSON, or not a tokenizer', async () => {
    const dir = workFolder('tok');
    const file = path.join(dir, 'tokenizer.json');
    await expect(loadTokenizer(dir)).rejects.toThrow(`${file}: missing`);
    await writeFile(file, '{"model": ');
    await expect(loadTokenizer(dir)).rejects.toThrow(`${file}: not valid JSON`);
    await writeFile(file, '[1, 2]');
    await expect(loadTokenizer(dir)).rejects.toThrow(`${file}: not valid JSON for this file: expected an object`);
    await writeFile(file, '{"model": {"type": "Nope"}}');
    await expect(loadTokenizer(dir)).rejects.toThrow(`${file}: not a tokenizer @huggingface/tokenizers can load`);
  });

  it('names a broken tokenizer_config.json; takes ids from special_tokens_map.json and generation_config.json', async () => {
    const dir = workFolder('tok-side');
    await copyFile(path.join(await tinyModel(), 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    await writeFile(path.join(dir, 'tokenizer_config.json'), '{');
    await expect(loadTokenizer(dir)).rejects.toThrow(`${path.join(dir, 'tokenizer_config.json')}: not valid JSON`);
    await writeFile(path.join(dir, 'tokenizer_config.json'), '{"add_bos_token": false}');
    await writeFile(path.join(dir, 'special_tokens_map.json'), JSON.stringify({ eos_token: { content: '</s>' } }));
    await writeFile(path.join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: [2, 5] }));
    const tok = await loadTokenizer(dir);
    expect([tok.bosId, tok.eosIds, tok.unkId, tok.addBosByDefault]).toEqual([1, [2, 5], 0, false]);
    expect(tok.encode('a')[0]).not.toBe(1);
  });
});

describe('chat templates', () => {
  it('renders a template written here, with the special tokens and the generation prompt', async () => {
    const dir = workFolder('tok-chat');
    const tiny = await tinyModel();
    await copyFile(path.join(tiny, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const config = JSON.parse(await readFile(path.join(tiny, 'tokenizer_config.json'), 'utf8'));
    config.chat_template =
      '{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}';
    await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const tok = await loadTokenizer(dir);
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ];
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe('<s>[system] Be brief.</s>[user] Hi</s>[assistant] ');
    expect(tok.applyChatTemplate(messages)).toBe('<s>[system] Be brief.</s>[user] Hi</s>');
  });

  // The LLaMA check at the top renders LLaMA-2's own template; raising from a template needs no real vocabulary: one
  // written here that refuses roles out of turn as LLaMA-2's does.
  it("passes a template's raise_exception message on, naming tokenizer_config.json", async () => {
    const dir = workFolder('tok-raise');
    const tiny = await tinyModel();
    await copyFile(path.join(tiny, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const config = JSON.parse(await readFile(path.join(tiny, 'tokenizer_config.json'), 'utf8'));
    config.chat_template =
      "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ bos_token + '[INST] ' + m['content'] + ' [/INST]' if m['role'] == 'user' else ' ' + m['content'] + ' ' + eos_token }}{% endfor %}";
    await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const tok = await loadTokenizer(dir);
    const chat = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Bye' },
    ];
    expect(tok.applyChatTemplate(chat)).toBe('<s>[INST] Hi [/INST] Hello. </s><s>[INST] Bye [/INST]');
    expect(() => tok.applyChatTemplate([{ role: 'assistant', content: 'x' }])).toThrow(
      /tokenizer_config\.json: chat template: Conversation roles must alternate/,
    );
  });

  it('says so when there is no chat template', async () => {
    const tok = await loadTokenizer(await tinyModel());
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(/no chat_template/);
  });
});
