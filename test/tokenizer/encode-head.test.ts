import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../main/engine/data/prng.ts';
import { loadTokenizer, type StudioTokenizer } from '../../main/engine/tokenizer/tokenizer.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { tinyModel } from '../helpers/synthetic.ts';

/**
 * encodeHead tokenizes only as much of a long text as `limit` tokens need: its ids must be exactly the first `limit`
 * ids of the whole text's encoding, on the real LLaMA tokenizer (SentencePiece BPE with byte fallback, no
 * pre-tokenizer: merges may run across words) and on the tiny character tokenizer, for texts that stress it: long runs
 * of one character (BPE merges chain), no spaces at all, Chinese and emoji (byte fallback), real Alpaca rows.
 */

const LLAMA = 'tokenizers/llama';
const EN = 'alpaca/alpaca_en_demo.json';
const ZH = 'alpaca/alpaca_zh_demo.json';

function texts(): Record<string, string> {
  const prng = new Prng(3);
  const pick = (alphabet: string[], n: number) =>
    Array.from({ length: n }, () => alphabet[Math.floor(prng.next() * alphabet.length)]).join('');
  const out: Record<string, string> = {
    'one character repeated': 'a'.repeat(20_000),
    'spaces repeated, then words': ' '.repeat(8_000) + 'the river runs '.repeat(1000),
    'no spaces': pick([...'abcdefghijklmnopqrstuvwxyz0123456789'], 20_000),
    'mixed scripts': pick([...'ab c河流石头😀é\n\t 12'], 20_000),
    'digits and punctuation': pick([...'0123456789.,;:!?-_()[]{} '], 20_000),
  };
  if (!missingShared(EN, ZH)) {
    for (const f of [EN, ZH]) {
      const rows = JSON.parse(readFileSync(sharedPath(f), 'utf8')) as { instruction: string; output: string }[];
      out[`real rows of ${f}`] = rows
        .slice(0, 150)
        .map((r) => `${r.instruction}\n${r.output}`)
        .join('\n\n');
    }
  }
  return out;
}

function check(tok: StudioTokenizer): void {
  for (const [what, text] of Object.entries(texts())) {
    const all = tok.encode(text, { addBos: true, addEos: false });
    for (const limit of [1, 7, 32, 256, 2048]) {
      const head = tok.encodeHead(text, limit, { addBos: true, addEos: false });
      expect(head.ids, `${what}, limit ${limit}`).toEqual(all.slice(0, limit));
      if (head.exact) expect(head.total).toBe(all.length);
      else expect(head.total).toBeLessThanOrEqual(all.length);
    }
    // A short text is tokenized whole: the count is exact and EOS follows the flag.
    const short = text.slice(0, 50);
    expect(tok.encodeHead(short, 4096, { addBos: true, addEos: true })).toEqual({
      ids: tok.encode(short, { addBos: true, addEos: true }),
      total: tok.encode(short, { addBos: true, addEos: true }).length,
      exact: true,
    });
  }
}

describe('encodeHead gives the first ids of the whole text', () => {
  it.skipIf(missingShared(`${LLAMA}/tokenizer.json`))(
    'on the LLaMA tokenizer',
    async () => {
      check(await loadTokenizer(sharedPath(LLAMA)));
    },
    300_000,
  );

  it('on the tiny character tokenizer', async () => {
    check(await loadTokenizer(await tinyModel()));
  }, 300_000);

  it('costs what the head needs: a 20 MB text cut to 32 tokens tokenizes a few kilobytes', async () => {
    const tok = await loadTokenizer(await tinyModel());
    const text = 'ab '.repeat(7_000_000);
    const started = performance.now();
    const head = tok.encodeHead(text, 32, { addBos: true });
    const ms = performance.now() - started;
    console.log(
      `encodeHead of a ${(text.length / 2 ** 20).toFixed(0)} MB text at 32 tokens: ${ms.toFixed(1)} ms (counted ${head.total} tokens)`,
    );
    expect(head.exact).toBe(false);
    expect(head.ids).toEqual(tok.encode(text.slice(0, 10_000), { addBos: true }).slice(0, 32));
    expect(head.total).toBeLessThan(100_000); // it stopped long before the end
  });
});
