import { mkdtemp, readFile, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../main/engine/tokenizer/tokenizer.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';

const LLAMA = 'tokenizers/llama';
const VOCAB_TESTS = 'tokenizers/llama-gguf-vocab/ggml-vocab-llama-spm.gguf';

describe.skipIf(missingShared(`${LLAMA}/tokenizer.json`, `${VOCAB_TESTS}.inp`, `${VOCAB_TESTS}.out`))('LLaMA tokenizer against llama.cpp', () => {
  it("passes all 46 of llama.cpp's tokenizer test cases", async () => {
    const tok = await loadTokenizer(sharedPath(LLAMA));
    const inputs = (await readFile(sharedPath(`${VOCAB_TESTS}.inp`), 'utf8')).split('\n__ggml_vocab_test__\n');
    inputs.pop(); // the file ends with a separator
    const expected = (await readFile(sharedPath(`${VOCAB_TESTS}.out`), 'utf8')).split('\n');
    expect(inputs.length).toBe(46);
    inputs.forEach((text, i) => {
      const want = expected[i].trim() === '' ? [] : expected[i].trim().split(/\s+/).map(Number);
      expect(tok.encode(text, { addBos: false }), `case ${i}: ${JSON.stringify(text)}`).toEqual(want);
    });
  });
});

const ZH = 'alpaca/alpaca_zh_demo.json';
describe.skipIf(missingShared(ZH, `${LLAMA}/tokenizer.json`, 'models/stories260K/tokenizer.json'))('Chinese text round-trips', () => {
  it.each([LLAMA, 'models/stories260K'])('%s: encode → decode and the stream decoder give the text back', async (dir) => {
    const tok = await loadTokenizer(sharedPath(dir));
    const rows = JSON.parse(await readFile(sharedPath(ZH), 'utf8')) as { instruction: string; output: string }[];
    for (const row of rows.slice(0, 40)) {
      const text = `${row.instruction}\n${row.output}`;
      const ids = tok.encode(text);
      expect(ids[0]).toBe(tok.bosId);
      expect(tok.decode(ids)).toBe(text);
      const stream = tok.createStreamDecoder();
      const pieces = ids.slice(1).map((id) => stream.push(id));
      pieces.push(stream.flush());
      expect(pieces.join('')).toBe(text);
      expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
    }
  });
});

describe('tokenizer files', () => {
  it('names the file when tokenizer.json is missing or broken', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tok-'));
    await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer\.json: missing/);
    await writeFile(path.join(dir, 'tokenizer.json'), '{"model": ');
    await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer\.json: not valid JSON/);
    await writeFile(path.join(dir, 'tokenizer.json'), '{"model": {"type": "Nope"}}');
    await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer\.json: not a tokenizer/);
  });

  it.skipIf(missingShared('models/stories260K/tokenizer.json'))('renders a chat template with Jinja', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tok-chat-'));
    const src = sharedPath('models/stories260K');
    await copyFile(path.join(src, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const config = JSON.parse(await readFile(path.join(src, 'tokenizer_config.json'), 'utf8'));
    config.chat_template = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}";
    await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const tok = await loadTokenizer(dir);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'Hi' }])).toBe('<s>[user] Hi</s>[assistant] ');
  });
});
