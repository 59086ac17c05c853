import { describe, expect, it } from 'vitest';
import { previewSegments } from '../../main/api/data-check.ts';
import { encodeExample } from '../../main/engine/data/encode.ts';
import { BUILTIN_TEMPLATES } from '../../main/engine/data/templates.ts';
import { loadTokenizer } from '../../main/engine/tokenizer/tokenizer.ts';
import { tinyModel } from '../helpers/synthetic.ts';

/**
 * The Data step's preview: a row cut at cutoff_len in the middle of a character spread over byte tokens (Chinese the
 * tokenizer has no piece for) shows the text up to the last whole character, never a U+FFFD.
 */
describe('the data preview', () => {
  it('shows cut Chinese text without a broken character, and the pieces add up to the text', async () => {
    const tok = await loadTokenizer(await tinyModel());
    // 苹果 and 香蕉 are not in the tiny tokenizer's alphabet: each character is three byte-fallback tokens.
    const row = { instruction: '把这个词重复两遍：河流', input: '', output: '苹果香蕉苹果香蕉', row: 1 };
    const full = encodeExample(tok, BUILTIN_TEMPLATES.alpaca, row, { cutoffLen: 10_000, trainOnInputs: false, addEosToken: false });
    const text = tok.decode(full.inputIds);
    let brokenCuts = 0;
    for (let cutoff = full.inputIds.length - 24; cutoff < full.inputIds.length; cutoff++) {
      const ex = encodeExample(tok, BUILTIN_TEMPLATES.alpaca, row, { cutoffLen: cutoff, trainOnInputs: false, addEosToken: false });
      if (tok.decode(ex.inputIds).endsWith('\uFFFD')) brokenCuts++; // a plain decode of the cut row would show one
      const segments = previewSegments(tok, ex);
      const shown = segments.map((s) => s.text).join('');
      expect(shown, `cutoff ${cutoff}`).not.toContain('\uFFFD');
      expect(text.startsWith(shown), `cutoff ${cutoff}`).toBe(true);
      // The response's characters that survived the cut are shown as trained.
      if (shown.includes('苹')) expect(segments.at(-1)).toMatchObject({ trained: true, text: shown.slice(shown.indexOf('苹')) });
      expect(segments[0].text.startsWith('Below is an instruction')).toBe(true);
    }
    expect(brokenCuts).toBeGreaterThan(0);
    expect(previewSegments(tok, full).map((s) => s.text)).toEqual([text.slice(0, text.indexOf('苹')), '苹果香蕉苹果香蕉']);
  });
});
