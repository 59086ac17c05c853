import { describe, expect, it } from 'vitest';
import { encodeExample, type EncodedExample } from '../../main/engine/data/encode.ts';
import { datasetStats, overLongProblems } from '../../main/engine/data/stats.ts';
import { BUILTIN_TEMPLATES } from '../../main/engine/data/templates.ts';
import { loadAlpacaRows } from '../../main/engine/data/dataset.ts';
import { loadTokenizer } from '../../main/engine/tokenizer/tokenizer.ts';
import { tinyAlpacaFile, tinyModel } from '../helpers/synthetic.ts';

const ex = (fullLength: number, cutoff: number, masked: number, row?: number): EncodedExample => {
  const n = Math.min(fullLength, cutoff);
  return {
    inputIds: Array(n).fill(5),
    labels: Array.from({ length: n }, (_, i) => (i < masked ? -100 : 5)),
    truncated: fullLength > cutoff,
    fullLength,
    row,
  };
};

describe('dataset statistics', () => {
  it('bins lengths against cutoff_len, counts the cut and the masked/trained labels', () => {
    const s = datasetStats([ex(3, 16, 2), ex(4, 16, 0), ex(15, 16, 15), ex(16, 16, 4), ex(40, 16, 16)], 16, 4);
    expect(s.histogram).toEqual([
      { from: 0, to: 4, count: 1 },
      { from: 4, to: 8, count: 1 },
      { from: 8, to: 12, count: 0 },
      { from: 12, to: 16, count: 1 },
      { from: 16, to: Infinity, count: 2 },
    ]);
    expect(s).toMatchObject({ rows: 5, truncated: 1, truncatedShare: 0.2, maxLength: 40, meanLength: 78 / 5 });
    expect([s.maskedTokens, s.trainedTokens]).toEqual([2 + 0 + 15 + 4 + 16, 1 + 4 + 0 + 12 + 0]);
    expect(datasetStats([ex(1, 5, 0)], 5, 16).histogram).toHaveLength(6); // cutoff_len below the bin count: width 1
  });

  it('lists over-long rows as warnings and says when no response token is left', () => {
    expect(overLongProblems([ex(10, 16, 3, 4), ex(20, 16, 3, 7), ex(30, 16, 16, 9)], 16)).toEqual([
      { row: 7, reason: 'over-long', severity: 'warning', message: 'row 7: 20 tokens, cut to cutoff_len 16' },
      {
        row: 9,
        reason: 'over-long',
        severity: 'warning',
        message: 'row 9: 30 tokens, cut to cutoff_len 16; nothing of the response is left to train on',
      },
    ]);
  });

  // Rows and a tokenizer written here; with one piece per character, 100 rows of the alpaca template reach 128 tokens.
  it('on 100 rows with the tiny tokenizer: the counts add up', async () => {
    const tok = await loadTokenizer(await tinyModel());
    const { rows } = await loadAlpacaRows(tinyAlpacaFile(100, 'en'));
    const encoded = rows.map((r) =>
      encodeExample(tok, BUILTIN_TEMPLATES.alpaca, r, { cutoffLen: 128, trainOnInputs: false, addEosToken: false }),
    );
    const s = datasetStats(encoded, 128);
    expect(s.rows).toBe(100);
    expect(s.histogram.reduce((a, b) => a + b.count, 0)).toBe(100);
    expect(s.histogram.at(-1)!.count).toBe(encoded.filter((e) => e.fullLength >= 128).length);
    expect(s.truncated).toBe(overLongProblems(encoded, 128).length);
    expect(s.truncated).toBeGreaterThan(0);
    expect(s.trainedTokens + s.maskedTokens).toBe(encoded.reduce((a, e) => a + e.inputIds.length, 0));
    expect(s.maskedTokens).toBeGreaterThan(s.trainedTokens / 10);
  });
});
