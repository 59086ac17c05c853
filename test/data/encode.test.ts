import { beforeAll, describe, expect, it } from 'vitest';
import { encodeExample, IGNORE_INDEX, type EncodeSettings } from '../../main/engine/data/encode.ts';
import { BUILTIN_TEMPLATES, generatePrompt } from '../../main/engine/data/templates.ts';
import { loadTokenizer } from '../../main/engine/tokenizer/tokenizer.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { tinyModel } from '../helpers/synthetic.ts';

const LLAMA = 'tokenizers/llama';
const BOS = 1;
const EOS = 2;
const M = IGNORE_INDEX;

describe.skipIf(missingShared(`${LLAMA}/tokenizer.json`))('Alpaca-LoRA ids on the LLaMA tokenizer', () => {
  // Loaded in beforeAll, not while vitest collects: a skipped block's body still runs at collection.
  let tok: Awaited<ReturnType<typeof loadTokenizer>>;
  beforeAll(async () => {
    tok = await loadTokenizer(sharedPath(LLAMA));
  });

  it('pins two rows whose ids llama.cpp gave for the same texts (alpaca_short template)', () => {
    const t = BUILTIN_TEMPLATES.alpaca_short;
    // llama.cpp (node-llama-cpp 3.21.1, ggml-vocab-llama-spm.gguf) tokenized these prompts and full texts (no BOS):
    const prompt = [835, 2799, 4080, 29901, 13, 1170, 263, 7601, 2927, 29889, 13, 13, 2277, 29937, 13291, 29901, 13];
    const row = { instruction: 'Name a primary color.', input: '', output: 'Red.', row: 1 };
    const masked = encodeExample(tok, t, row, { cutoffLen: 256, trainOnInputs: false, addEosToken: false });
    expect(masked.inputIds).toEqual([BOS, ...prompt, 9039, 29889, EOS]);
    expect(masked.labels).toEqual([...Array(18).fill(M), 9039, 29889, EOS]);
    expect(masked.attentionMask).toEqual(Array(21).fill(1));

    const zhPrompt = [
      835, 2799, 4080, 29901, 13, 234, 194, 190, 235, 178, 148, 30494, 31144, 30333, 30267, 13, 13, 2277, 29937, 10567, 29901, 13, 30919,
      31076, 13, 13, 2277, 29937, 13291, 29901, 13,
    ];
    const zh = { instruction: '翻译成英文。', input: '你好', output: 'Hello', row: 2 };
    const e = encodeExample(tok, t, zh, { cutoffLen: 256, trainOnInputs: false, addEosToken: true });
    expect(e.inputIds).toEqual([BOS, ...zhPrompt, 10994, EOS]);
    expect(e.labels).toEqual([...Array(32).fill(M), 10994, EOS]);
    expect(e.row).toBe(2);
  });
});

// The layout rules hold for any SentencePiece-style tokenizer: the tiny model's own (one piece per character, byte
// fallback for the rest) runs them in a fresh clone.
describe('Alpaca-LoRA token and label layout', () => {
  let tok: Awaited<ReturnType<typeof loadTokenizer>>;
  beforeAll(async () => {
    tok = await loadTokenizer(await tinyModel());
  });

  // Three rows (no input, with input, Chinese) under every train_on_inputs × add_eos_token and several cut-offs.
  const rows = [
    { instruction: 'Give three tips for staying healthy.', input: '', output: 'Eat well, sleep, and move.', row: 1 },
    { instruction: 'Translate to French.', input: 'Good morning', output: 'Bonjour', row: 2 },
    { instruction: '解释光合作用。', input: '', output: '植物利用阳光把二氧化碳和水变成糖和氧气。', row: 3 },
  ];
  const template = BUILTIN_TEMPLATES.alpaca;
  const combos = [true, false].flatMap((trainOnInputs) => [true, false].map((addEosToken) => ({ trainOnInputs, addEosToken })));

  describe.each(combos)('train_on_inputs=$trainOnInputs add_eos_token=$addEosToken', ({ trainOnInputs, addEosToken }) => {
    it.each(rows)('row $row at every cut-off', (row) => {
      // The parts, each tokenized on its own: BOS + prompt, and BOS + prompt + output.
      const P = tok.encode(generatePrompt(template, row.instruction, row.input));
      const F = tok.encode(generatePrompt(template, row.instruction, row.input, row.output));
      expect(F.slice(0, P.length)).toEqual(P); // the prompt's tokens start the full text's (the templates end in "\n")
      for (const cutoffLen of [512, F.length + 1, F.length, F.length - 1, P.length + 1, P.length, P.length - 3]) {
        const s: EncodeSettings = { cutoffLen, trainOnInputs, addEosToken };
        const e = encodeExample(tok, template, row, s);
        // tokenize(full_prompt) keeps add_eos_token=True (its default) whatever the flag: EOS when there is room.
        const ids = F.length < cutoffLen ? [...F, EOS] : F.slice(0, cutoffLen);
        // user_prompt_len: the prompt alone, cut, with EOS when the flag is on and there is room, minus 1 if the flag is on.
        const userIds = P.length < cutoffLen && addEosToken ? [...P, EOS] : P.slice(0, cutoffLen);
        const userPromptLen = trainOnInputs ? 0 : userIds.length - (addEosToken ? 1 : 0);
        const where = `cutoff_len ${cutoffLen}`;
        expect(e.inputIds, where).toEqual(ids);
        expect(e.labels, where).toEqual(ids.map((id, i) => (i < userPromptLen ? M : id)));
        expect(e.attentionMask, where).toEqual(ids.map(() => 1));
        expect(e.truncated, where).toBe(F.length > cutoffLen);
        expect(e.fullLength, where).toBe(F.length);
      }
    });
  });

  it('the cut prompt edge: with add_eos_token the last prompt token is trained, without it nothing is', () => {
    const row = rows[0];
    const cut = 10; // shorter than the prompt
    const F = tok.encode(generatePrompt(template, row.instruction, row.input, row.output));
    const on = encodeExample(tok, template, row, { cutoffLen: cut, trainOnInputs: false, addEosToken: true });
    const off = encodeExample(tok, template, row, { cutoffLen: cut, trainOnInputs: false, addEosToken: false });
    expect(on.inputIds).toEqual(F.slice(0, cut));
    expect(on.labels).toEqual([...Array(cut - 1).fill(M), F[cut - 1]]);
    expect(off.labels).toEqual(Array(cut).fill(M));
  });

  it('adds no second EOS when the output already ends with the EOS token', () => {
    const row = { instruction: 'Say bye.', input: '', output: 'Bye</s>', row: 1 };
    const e = encodeExample(tok, template, row, { cutoffLen: 256, trainOnInputs: true, addEosToken: true });
    expect(e.inputIds.slice(-2)).toEqual([tok.encode('Bye', { addBos: false }).at(-1), EOS]);
    expect(e.inputIds.filter((id) => id === EOS)).toHaveLength(1);
  });
});
