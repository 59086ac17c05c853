import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeExample } from '../../main/engine/data/encode.ts';
import { BUILTIN_TEMPLATES, generatePrompt, getResponse, loadTemplate } from '../../main/engine/data/templates.ts';
import { collate } from '../../main/engine/data/batches.ts';
import { loadTokenizer } from '../../main/engine/tokenizer/tokenizer.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';

const LLAMA = 'tokenizers/llama';

describe.skipIf(missingShared('templates/alpaca.json', 'templates/vigogne.json'))('prompt templates', () => {
  it.each(Object.keys(BUILTIN_TEMPLATES))('built-in %s equals the Alpaca-LoRA file', (name) => {
    const file = JSON.parse(readFileSync(sharedPath(`templates/${name}.json`), 'utf8'));
    expect(BUILTIN_TEMPLATES[name]).toEqual(file);
    expect(loadTemplate(sharedPath(`templates/${name}.json`))).toEqual(file);
  });

  it('fills instruction and input in one pass and splits the response', () => {
    const t = BUILTIN_TEMPLATES.alpaca_short;
    expect(generatePrompt(t, 'say {input}', 'x$&y')).toBe('### Instruction:\nsay {input}\n\n### Input:\nx$&y\n\n### Response:\n');
    expect(getResponse(t, generatePrompt(t, 'a', '', ' answer '))).toBe('answer');
  });

  it('rejects a template file with a clear message', () => {
    expect(() => loadTemplate('/nonexistent/template.json')).toThrow(/not a built-in template/);
  });
});

describe.skipIf(missingShared(`${LLAMA}/tokenizer.json`))('Alpaca-LoRA token and label layout on the LLaMA tokenizer', async () => {
  const tok = await loadTokenizer(sharedPath(LLAMA));
  const template = BUILTIN_TEMPLATES.alpaca;
  const row = { instruction: 'Give three tips for staying healthy.', input: '', output: 'Eat well.', row: 1 };
  const prompt = generatePrompt(template, row.instruction, row.input);
  // Built from the tokenizer's own encodes of the parts, by Alpaca-LoRA's rules.
  const fullIds = tok.encode(prompt + row.output); // BOS + text
  const promptIds = tok.encode(prompt);
  const EOS = 2;

  it('pins the exact ids of the response part', () => {
    // "Eat well." after "### Response:\n" in SentencePiece: ▁E at well .
    expect(fullIds[0]).toBe(1);
    expect(fullIds.slice(-4)).toEqual(tok.encode('\nEat well.', { addBos: false }).slice(-4));
    expect(tok.encode('Eat well.', { addBos: false })).toEqual([382, 271, 1532, 29889]);
  });

  it.each([
    [true, false],
    [true, true],
    [false, false],
    [false, true],
  ])('train_on_inputs=%s add_eos_token=%s', (trainOnInputs, addEosToken) => {
    const e = encodeExample(tok, template, row, { cutoffLen: 256, trainOnInputs, addEosToken });
    const expectedIds = addEosToken ? [...fullIds, EOS] : fullIds;
    expect(e.inputIds).toEqual(expectedIds);
    const masked = trainOnInputs ? 0 : promptIds.length; // prompt tokens, (+EOS −1) cancels when add_eos_token
    expect(e.labels).toEqual(expectedIds.map((id, i) => (i < masked ? -100 : id)));
    expect(e.truncated).toBe(false);
  });

  it('cuts to cutoff_len and then adds no EOS', () => {
    const e = encodeExample(tok, template, row, { cutoffLen: 10, trainOnInputs: false, addEosToken: true });
    expect(e.inputIds).toEqual(fullIds.slice(0, 10));
    expect(e.truncated).toBe(true);
    // The user prompt is cut too: 10 tokens, minus the EOS it never got: 9 masked, the 10th trained.
    expect(e.labels).toEqual([...Array(9).fill(-100), fullIds[9]]);
  });

  it('collates with left padding (id 0) to a multiple of 8, labels -100 on padding', () => {
    const a = encodeExample(tok, template, row, { cutoffLen: 256, trainOnInputs: true, addEosToken: true });
    const b = encodeExample(tok, template, { ...row, output: 'Sleep.' }, { cutoffLen: 256, trainOnInputs: true, addEosToken: true });
    const mb = collate([a, b]);
    expect(mb.seqLen % 8).toBe(0);
    expect(mb.seqLen).toBeGreaterThanOrEqual(Math.max(a.inputIds.length, b.inputIds.length));
    const T = mb.seqLen;
    const padB = T - b.inputIds.length;
    expect([...mb.inputIds.slice(T, T + padB)]).toEqual(Array(padB).fill(0));
    expect([...mb.labels.slice(T, T + padB)]).toEqual(Array(padB).fill(-100));
    expect([...mb.attentionMask.slice(T, 2 * T)]).toEqual([...Array(padB).fill(0), ...Array(b.inputIds.length).fill(1)]);
    expect([...mb.inputIds.slice(2 * T - b.inputIds.length, 2 * T)]).toEqual(b.inputIds);
  });
});
