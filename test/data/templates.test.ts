import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_TEMPLATES, formatTemplate, generatePrompt, getResponse, loadTemplate } from '../../main/engine/data/templates.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { workFolder } from '../helpers/work-folder.ts';

const names = ['alpaca', 'alpaca_legacy', 'alpaca_short', 'vigogne'] as const;
const dir = workFolder('templates');

describe("Alpaca-LoRA's template files", () => {
  it('has exactly the four built-ins, each loaded by its name', async () => {
    expect(Object.keys(BUILTIN_TEMPLATES).sort()).toEqual(names);
    for (const name of names) expect(await loadTemplate(name), name).toBe(BUILTIN_TEMPLATES[name]);
  });

  it.skipIf(missingShared(...names.map((n) => `templates/${n}.json`)))(
    'each built-in equals its file byte for byte, and the file loads as a custom template',
    async () => {
      for (const name of names) {
        const file = JSON.parse(readFileSync(sharedPath(`templates/${name}.json`), 'utf8'));
        expect(BUILTIN_TEMPLATES[name], name).toStrictEqual(file);
        expect(await loadTemplate(name)).toBe(BUILTIN_TEMPLATES[name]);
        expect(await loadTemplate(sharedPath(`templates/${name}.json`))).toStrictEqual(file);
      }
    },
  );
});

describe('generatePrompt and getResponse (Prompter)', () => {
  const t = BUILTIN_TEMPLATES.alpaca;

  it('uses prompt_input only for a non-empty input and appends a non-empty label', () => {
    expect(generatePrompt(t, 'Add.', '2 and 3', '5')).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n### Response:\n5',
    );
    const noInput =
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd.\n\n### Response:\n';
    expect(generatePrompt(t, 'Add.', '')).toBe(noInput);
    expect(generatePrompt(t, 'Add.', null, '')).toBe(noInput);
    expect(generatePrompt(t, 'Add.')).toBe(noInput);
  });

  it("fills in one pass, as Python's str.format: braces and $ in the user's text stay as they are", () => {
    const s = BUILTIN_TEMPLATES.alpaca_short;
    expect(generatePrompt(s, 'say {input} $& {{x}}', 'x$&y {instruction}')).toBe(
      '### Instruction:\nsay {input} $& {{x}}\n\n### Input:\nx$&y {instruction}\n\n### Response:\n',
    );
    expect(formatTemplate('{{a}} {x} }}', { x: 'X' })).toBe('{a} X }');
    expect(() => formatTemplate('{y}', { x: '' })).toThrow(/unknown placeholder \{y\}/);
    expect(() => formatTemplate('a } b', { x: '' })).toThrow(/single "\}"/);
  });

  it('get_response takes the text between the first and the second marker, stripped', () => {
    const full = generatePrompt(t, 'Q', '', ' Answer \n');
    expect(getResponse(t, full)).toBe('Answer');
    expect(getResponse(t, 'a ### Response: b ### Response: c')).toBe('b');
    expect(getResponse(BUILTIN_TEMPLATES.vigogne, 'x ### Réponse:\nOui')).toBe('Oui');
    expect(getResponse(t, '  no marker  ')).toBe('no marker'); // Python would raise IndexError
  });
});

describe('custom template files', () => {
  const write = (name: string, v: unknown) => {
    const p = path.join(dir, name);
    writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
    return p;
  };
  const ok = { prompt_input: 'I: {instruction}\nIn: {input}\nR: ', prompt_no_input: 'I: {instruction}\nR: ', response_split: 'R:' };

  it('loads a valid one (description optional)', async () => {
    expect(await loadTemplate(write('ok.json', ok))).toEqual(ok);
  });

  it('names the file and what is wrong', async () => {
    const missing = write('missing.json', { prompt_input: ok.prompt_input, response_split: 'R:' });
    await expect(loadTemplate(missing)).rejects.toThrow(new RegExp(`^${missing}: not a prompt template: prompt_no_input`));
    const noInput = write('no-input.json', { ...ok, prompt_input: 'I: {instruction}' });
    await expect(loadTemplate(noInput)).rejects.toThrow(/prompt_input: needs the placeholder \{input\}/);
    const extra = write('extra.json', { ...ok, prompt_no_input: '{instruction} {input}' });
    await expect(loadTemplate(extra)).rejects.toThrow(/prompt_no_input: unknown placeholder \{input\}/);
    const empty = write('empty-split.json', { ...ok, response_split: '' });
    await expect(loadTemplate(empty)).rejects.toThrow(/response_split/);
    await expect(loadTemplate(write('broken.json', '{"prompt_input":'))).rejects.toThrow(/broken\.json: not valid JSON/);
    await expect(loadTemplate(path.join(dir, 'nope.json'))).rejects.toThrow(
      /nope\.json: not a built-in template \(alpaca, alpaca_legacy, alpaca_short, vigogne\) nor an existing file/,
    );
  });
});
