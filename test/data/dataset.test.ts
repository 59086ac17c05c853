import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAlpacaRows } from '../../main/engine/data/dataset.ts';
import { FormatError } from '../../main/engine/errors.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { workFolder } from '../helpers/work-folder.ts';

const dir = workFolder('data-test');
function file(name: string, text: string) {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

const EN = 'alpaca/alpaca_en_demo.json';
const ZH = 'alpaca/alpaca_zh_demo.json';
const TINY = 'alpaca/alpaca_tiny.json';

describe.skipIf(missingShared(EN, ZH, TINY))('the real Alpaca files', () => {
  // Counts checked with Python's json module: rows, rows with an input, (instruction, input, output) repeats.
  // One test for the three files: they are an extra check on real data, the rules are tested below on rows written here.
  it('alpaca_en_demo, alpaca_zh_demo, alpaca_tiny: rows, rows with input, duplicates (kept, reported); the Chinese text kept as it is', async () => {
    for (const [name, total, withInput, duplicates, firstDup] of [
      [EN, 999, 412, 14, [276, 118]],
      [ZH, 1000, 139, 8, [517, 141]],
      [TINY, 100, 46, 0, undefined],
    ] as const) {
      const { rows, report } = await loadAlpacaRows(sharedPath(name));
      expect(report, name).toMatchObject({ file: sharedPath(name), format: 'json', total, kept: total });
      expect(rows).toHaveLength(total);
      expect(
        rows.filter((r) => r.input !== ''),
        name,
      ).toHaveLength(withInput);
      expect(report.problems.every((p) => p.reason === 'duplicate' && p.severity === 'warning')).toBe(true);
      expect(report.problems, name).toHaveLength(duplicates);
      if (firstDup) expect(report.problems[0].message).toBe(`row ${firstDup[0]}: same instruction, input and output as row ${firstDup[1]}`);
      expect(Object.keys(rows[0]).sort()).toEqual(['input', 'instruction', 'output', 'row']); // extra fields ("text") dropped
    }
    const { rows } = await loadAlpacaRows(sharedPath(ZH));
    expect(rows[0].instruction).toBe('识别并解释给定列表中的两个科学理论：细胞理论和日心说。');
    expect(rows[0].row).toBe(1);
  });
});

// What the real files show of the loader, on a file written here: a JSON array whose duplicates are kept and reported
// with both rows, extra fields dropped, Chinese text kept as it is.
describe('an Alpaca JSON file like the real ones', () => {
  it('keeps duplicates and reports each with the row it repeats; drops extra fields; keeps Chinese text as it is', async () => {
    const rows: Record<string, string>[] = [
      { instruction: '把这个词重复两遍：河流', input: '', output: '河流河流', text: '### 河流河流' },
      { instruction: '这个词的第一个字是什么？', input: '石头', output: '石', text: '### 石' },
      { instruction: '这个词的第一个字是什么？', input: '花园', output: '花', text: '### 花' },
      { instruction: 'Write this word backwards.', input: 'river', output: 'revir', text: '### revir' },
      { instruction: 'Repeat the word stone twice.', input: '', output: 'stone stone', text: '### stone stone' },
      { instruction: '这个词的第一个字是什么？', input: '石头', output: '石头', text: '### 石头' }, // not a repeat: another output
      { instruction: '解释光合作用。', input: '', output: '植物利用阳光把二氧化碳和水变成糖和氧气。' },
    ];
    rows.push({ ...rows[6] }, { ...rows[1], text: 'other text' }); // rows 8 and 9 repeat rows 7 and 2 (text is no field)
    const p = file('like-real.json', JSON.stringify(rows, null, 2));
    const { rows: loaded, report } = await loadAlpacaRows(p);
    expect(report).toMatchObject({ file: p, format: 'json', total: 9, kept: 9 });
    expect(report.problems.map((x) => [x.reason, x.severity, x.message])).toEqual([
      ['duplicate', 'warning', 'row 8: same instruction, input and output as row 7'],
      ['duplicate', 'warning', 'row 9: same instruction, input and output as row 2'],
    ]);
    expect(loaded.filter((r) => r.input !== '')).toHaveLength(rows.filter((r) => r.input !== '').length);
    expect(Object.keys(loaded[0]).sort()).toEqual(['input', 'instruction', 'output', 'row']); // "text" dropped
    expect(loaded[6]).toEqual({ instruction: '解释光合作用。', input: '', output: '植物利用阳光把二氧化碳和水变成糖和氧气。', row: 7 });
  });
});

describe('JSON lines', () => {
  it('detects JSON lines and numbers rows by line (blank lines, CRLF, BOM)', async () => {
    const p = file('ok.jsonl', '\uFEFF\n{"instruction":"a","output":"b"}\r\n\r\n{"instruction":"c","input":"d","output":"e","text":"x"}\n');
    const d = await loadAlpacaRows(p);
    expect(d.report).toMatchObject({ format: 'jsonl', total: 2, kept: 2, problems: [] });
    expect(d.rows).toEqual([
      { instruction: 'a', input: '', output: 'b', row: 2 },
      { instruction: 'c', input: 'd', output: 'e', row: 4 },
    ]);
  });

  it("skips a line that is not JSON with on_bad_rows 'skip' and reports it; 'stop' names it", async () => {
    const p = file('badline.jsonl', '{"instruction":"a","output":"b"}\n{oops}\n{"instruction":"c","output":"d"}\n');
    const d = await loadAlpacaRows(p, { onBadRow: 'skip' });
    expect(d.rows.map((r) => r.row)).toEqual([1, 3]);
    expect(d.report).toMatchObject({ format: 'jsonl', total: 3, kept: 2 });
    expect(d.report.problems).toEqual([
      { row: 2, reason: 'not valid json', severity: 'error', message: expect.stringMatching(/^line 2: not valid JSON \(/) },
    ]);
    await expect(loadAlpacaRows(p, { onBadRow: 'stop' })).rejects.toThrow(
      new RegExp(`${p}: line 2: not valid JSON .*on_bad_rows is 'stop'`),
    );
  });

  it('names the line of a bad row', async () => {
    const p = file('bad.jsonl', '{"instruction":"a","output":"b"}\n{"instruction":"c","output":7}\n');
    const d = await loadAlpacaRows(p);
    expect(d.report.problems).toEqual([
      {
        row: 2,
        field: 'output',
        reason: 'not a string',
        severity: 'error',
        valueType: 'number',
        message: 'line 2: "output" is a number, not a string',
      },
    ]);
    await expect(loadAlpacaRows(p, { onBadRow: 'stop' })).rejects.toThrow(`${p}: line 2: "output" is a number, not a string`);
  });
});

describe('bad rows', () => {
  const p = file(
    'bad.json',
    JSON.stringify([
      { instruction: 'ok', output: 'fine' },
      { instruction: 'no output' },
      { instruction: 3, output: 'x' },
      { instruction: 'empty', output: '  ' },
      { instruction: 'ok', output: 'fine' },
      'a string',
      { instruction: 'null input is no input', input: null, output: 'y' },
      { instruction: 'ok', input: ['list'], output: 'z' },
      { instruction: '', output: 'w' },
    ]),
  );

  it('reports each with its row, field and reason, and skips the errors', async () => {
    const d = await loadAlpacaRows(p, { onBadRow: 'skip' });
    expect(d.report.problems.map((x) => [x.row, x.field, x.reason, x.severity])).toEqual([
      [2, 'output', 'missing field', 'error'],
      [3, 'instruction', 'not a string', 'error'],
      [4, 'output', 'empty output', 'error'],
      [5, undefined, 'duplicate', 'warning'],
      [6, undefined, 'not an object', 'error'],
      [8, 'input', 'not a string', 'error'],
      [9, 'instruction', 'empty instruction', 'error'],
    ]);
    expect(d.report.problems[0].message).toBe('row 2: missing "output"');
    expect(d.rows.map((r) => r.row)).toEqual([1, 5, 7]);
    expect(d.rows[2].input).toBe('');
    expect(d.report).toMatchObject({ file: p, total: 9, kept: 3 });
  });

  it("'stop' throws a FormatError naming the file and the first bad row", async () => {
    await expect(loadAlpacaRows(p, { onBadRow: 'stop' })).rejects.toThrow(FormatError);
    await expect(loadAlpacaRows(p, { onBadRow: 'stop' })).rejects.toThrow(`${p}: row 2: missing "output"`);
  });
});

describe('files that are not Alpaca data', () => {
  it.each([
    ['empty.json', '  \n', /empty\.json: data file is empty/],
    ['empty-array.json', '[]', /empty-array\.json: data file holds no rows/],
    ['broken.json', '[{"instruction": "a",', /broken\.json: not valid JSON/],
    ['text.txt', 'hello', /text\.txt: expected a JSON array of rows or JSON lines/],
    ['number.json', '42', /number\.json: expected a JSON array/],
    [
      'wrapped.json',
      '{\n  "data": [{"instruction": "a", "output": "b"}]\n}',
      /wrapped\.json: a JSON object, not a list of rows; the rows may be under "data"/,
    ],
    ['allbad.jsonl', '{oops}\n{"instruction":\n', /allbad\.jsonl: no usable rows \(2 bad; first: line 1: not valid JSON/],
    ['allbad.json', '[{"x": 1}]', /allbad\.json: no usable rows \(1 bad; first: row 1: missing "instruction"\)/],
  ])('%s', async (name, text, error) => {
    await expect(loadAlpacaRows(file(name, text))).rejects.toThrow(error);
  });

  it('a missing file or a folder', async () => {
    await expect(loadAlpacaRows(path.join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: cannot read data file \(.*\[ENOENT\]\)/);
    await expect(loadAlpacaRows(dir)).rejects.toThrow(/cannot read data file \(is a folder, not a regular file/);
  });

  it('a single row object on one line is one row', async () => {
    const d = await loadAlpacaRows(file('one.json', '{"instruction":"a","output":"b"}'));
    expect(d.rows).toEqual([{ instruction: 'a', input: '', output: 'b', row: 1 }]);
  });
});
