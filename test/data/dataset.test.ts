import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAlpacaRows } from '../../main/engine/data/dataset.ts';
import { epochOrder, splitTrainValidation } from '../../main/engine/data/batches.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'data-test-'));
function file(name: string, text: string) {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('loading Alpaca data', () => {
  it.skipIf(missingShared('alpaca/alpaca_en_demo.json', 'alpaca/alpaca_zh_demo.json', 'alpaca/alpaca_tiny.json'))(
    'loads the real demo files (extra fields ignored)',
    () => {
      const en = loadAlpacaRows(sharedPath('alpaca/alpaca_en_demo.json'));
      const zh = loadAlpacaRows(sharedPath('alpaca/alpaca_zh_demo.json'));
      const tiny = loadAlpacaRows(sharedPath('alpaca/alpaca_tiny.json'));
      expect(en.report.total).toBe(999);
      expect(zh.report.total).toBe(1000);
      expect(tiny.report.total).toBe(100);
      for (const d of [en, zh, tiny]) expect(d.rows.length + d.report.problems.filter((p) => p.severity === 'error').length).toBe(d.report.total);
      expect(zh.rows[0].instruction).toContain('细胞理论');
    },
  );

  it('reads JSON lines with line numbers', () => {
    const p = file('ok.jsonl', '{"instruction":"a","output":"b"}\n\n{"instruction":"c","input":"d","output":"e"}\n');
    const d = loadAlpacaRows(p);
    expect(d.report.format).toBe('jsonl');
    expect(d.rows.map((r) => [r.row, r.input])).toEqual([[1, ''], [3, 'd']]);
  });

  it('names each bad row and why, skipping them', () => {
    const p = file(
      'bad.json',
      JSON.stringify([
        { instruction: 'ok', output: 'fine' },
        { instruction: 'no output' },
        { instruction: 3, output: 'x' },
        { instruction: 'empty', output: '  ' },
        { instruction: 'ok', output: 'fine' },
        'a string',
      ]),
    );
    const d = loadAlpacaRows(p);
    expect(d.rows.length).toBe(1);
    expect(d.report.problems.map((x) => [x.row, x.reason])).toEqual([
      [2, 'missing field'],
      [3, 'not a string'],
      [4, 'empty output'],
      [5, 'duplicate'],
      [6, 'not an object'],
    ]);
    expect(d.report.problems[0].message).toBe('row 2: missing "output"');
    expect(() => loadAlpacaRows(p, { onBadRow: 'stop' })).toThrow(`${p}: row 2: missing "output"`);
  });

  it('gives clear errors for files that are not data', () => {
    expect(() => loadAlpacaRows(file('empty.json', '  \n'))).toThrow(/empty\.json: data file is empty/);
    expect(() => loadAlpacaRows(file('broken.json', '[{"instruction": "a",'))).toThrow(/broken\.json: not valid JSON/);
    expect(() => loadAlpacaRows(file('text.txt', 'hello'))).toThrow(/text\.txt: expected a JSON array of rows or JSON lines/);
    expect(() => loadAlpacaRows(file('badline.jsonl', '{"instruction":"a","output":"b"}\n{oops}\n'))).toThrow(/badline\.jsonl: line 2: not valid JSON/);
    expect(() => loadAlpacaRows(file('allbad.json', '[{"x": 1}]'))).toThrow(/allbad\.json: no usable rows/);
    expect(() => loadAlpacaRows(path.join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read data file \(ENOENT\)/);
  });
});

describe('splits and order', () => {
  it('splits validation rows with a fixed seed, disjoint from training', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const a = splitTrainValidation(items, 10);
    expect(a).toEqual(splitTrainValidation(items, 10));
    expect(a.validation.length).toBe(10);
    expect(new Set([...a.train, ...a.validation]).size).toBe(100);
    expect(() => splitTrainValidation(items, 100)).toThrow(/val_set_size/);
  });

  it('PRNG state saved and restored continues the same stream', () => {
    const p = new Prng(7);
    p.next();
    const q = new Prng(p.state());
    expect([p.next(), p.next(), p.nextUint32()]).toEqual([q.next(), q.next(), q.nextUint32()]);
  });

  it('group_by_length puts the longest example first and sorts megabatches', () => {
    const lengths = Array.from({ length: 300 }, (_, i) => (i * 37) % 101);
    const order = epochOrder(lengths, 0, 42, 2, true);
    expect(new Set(order).size).toBe(300);
    expect(lengths[order[0]]).toBe(100);
    const first = order.slice(1, 100).map((i) => lengths[i]);
    expect(first).toEqual([...first].sort((a, b) => b - a));
    expect(epochOrder(lengths, 1, 42, 2, false)).not.toEqual(epochOrder(lengths, 0, 42, 2, false));
  });
});
