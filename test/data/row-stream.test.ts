import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RowSplitter, RowStreamError, type RowRecord } from '../../main/engine/data/row-stream.ts';

/**
 * The streaming splitter behind every data file read: whatever the chunk boundaries (down to one byte, inside strings,
 * escapes and multi-byte characters), it gives back each row's text as JSON.parse of the whole file sees the row, and a
 * row over the cap as its size only.
 */

/** Feed `bytes` in chunks of the given sizes (cycled), return every record. */
function split(bytes: Uint8Array, sizes: number[], cap = 1 << 20): RowRecord[] {
  const s = new RowSplitter(cap);
  const out: RowRecord[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(...s.push(bytes.subarray(at, at + n)));
    at += n;
  }
  out.push(...s.end());
  return out;
}

const tricky = fc.string({
  unit: fc.constantFrom('a', 'Z', ' ', '"', '\\', '{', '}', '[', ']', ',', '\n', '\t', 'é', '河', '😀', '\u0000'),
});
const row = fc.record({ instruction: tricky, input: tricky, output: tricky, extra: fc.option(fc.array(fc.integer(), { maxLength: 3 })) });

describe('the row splitter', () => {
  it('splits a JSON array into the rows JSON.parse sees, whatever the chunks and the spacing', () => {
    fc.assert(
      fc.property(
        fc.array(row, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
        (rows, pretty, sizes) => {
          const bytes = new TextEncoder().encode(`\uFEFF \n${JSON.stringify(rows, null, pretty ? 2 : undefined)}\n `);
          const records = split(bytes, sizes);
          expect(records.map((r) => ('text' in r ? JSON.parse(r.text) : r))).toEqual(JSON.parse(JSON.stringify(rows)));
          expect(records.map((r) => r.row)).toEqual(rows.map((_, i) => i + 1));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('splits JSON lines by line, numbering rows by line (blank lines and CRLF kept out)', () => {
    fc.assert(
      fc.property(
        fc.array(row, { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
        (rows, sizes) => {
          const lines = rows.flatMap((r, i) => (i % 3 === 1 ? ['', JSON.stringify(r)] : [JSON.stringify(r)]));
          const bytes = new TextEncoder().encode(lines.join(rows.length % 2 ? '\r\n' : '\n'));
          const records = split(bytes, sizes).filter((r) => !('text' in r) || r.text.trim() !== '');
          expect(records.map((r) => ('text' in r ? JSON.parse(r.text) : r))).toEqual(JSON.parse(JSON.stringify(rows)));
          expect(records.map((r) => r.row)).toEqual(lines.flatMap((l, i) => (l === '' ? [] : [i + 1])));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps no row over the cap: it comes out as its size, the rows around it intact', () => {
    const big = { instruction: 'x', output: 'y'.repeat(5000) };
    const small = { instruction: 'a', output: 'b' };
    for (const [text, format] of [
      [JSON.stringify([small, big, small]), 'json'],
      [[small, big, small].map((r) => JSON.stringify(r)).join('\n'), 'jsonl'],
    ] as const) {
      const bytes = new TextEncoder().encode(text);
      const records = split(bytes, [7, 1000], 1000);
      expect(records, format).toEqual([
        { row: 1, text: JSON.stringify(small) },
        { row: 2, tooLarge: JSON.stringify(big).length },
        { row: 3, text: JSON.stringify(small) },
      ]);
    }
  });

  it.each([
    ['[1,,2]', /an empty element after row 1/],
    ['[{"a":1},]', /an empty element after row 1/],
    ['[{"a":1}', /ends before the array is closed/],
    ['[{"a":"b', /ends inside a string/],
    ['[{"a":1}] x', /unexpected content after the closing "\]"/],
    ['[{"a":1}}]', /unbalanced "\}" in row 1/],
  ])('refuses a broken array as a whole: %s', (text, error) => {
    expect(() => split(new TextEncoder().encode(text), [3])).toThrow(RowStreamError);
    expect(() => split(new TextEncoder().encode(text), [3])).toThrow(error);
  });

  it('reads a pretty-printed single object as one value (as JSON.parse of the file would)', () => {
    const s = new RowSplitter(1 << 20);
    s.push(new TextEncoder().encode('{\n  "data": [{"instruction": "a",\n "output": "b"}]\n}\n'));
    s.end();
    expect(JSON.parse(s.singleValueText()!)).toEqual({ data: [{ instruction: 'a', output: 'b' }] });
  });
});
