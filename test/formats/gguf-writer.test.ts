import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { gguf } from '@huggingface/gguf';
import { describe, expect, it } from 'vitest';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { GgmlType, GgufValueType as T, arr, type GgufValue } from '../../main/engine/formats/gguf-types.ts';
import { writeGguf, type GgufTensorToWrite } from '../../main/engine/formats/gguf-writer.ts';
import { workFolder } from '../helpers/work-folder.ts';

const dir = workFolder('gguf-writer');

/** One KV of every value type, arrays of strings, numbers and bools among them. */
const everyType: [string, GgufValue][] = [
  ['general.architecture', { type: T.STRING, value: 'llama' }],
  ['t.u8', { type: T.UINT8, value: 255 }],
  ['t.i8', { type: T.INT8, value: -128 }],
  ['t.u16', { type: T.UINT16, value: 65535 }],
  ['t.i16', { type: T.INT16, value: -32768 }],
  ['t.u32', { type: T.UINT32, value: 4294967295 }],
  ['t.i32', { type: T.INT32, value: -2147483648 }],
  ['t.f32', { type: T.FLOAT32, value: 0.1 }],
  ['t.bool', { type: T.BOOL, value: false }],
  ['t.string', { type: T.STRING, value: 'Grüße ▁ 🦙' }],
  ['t.u64', { type: T.UINT64, value: (1n << 64n) - 1n }],
  ['t.i64', { type: T.INT64, value: -(1n << 63n) }],
  ['t.f64', { type: T.FLOAT64, value: 0.1 }],
  ['t.strings', arr(T.STRING, ['a', '', '<0x0A>'])],
  ['t.f32s', arr(T.FLOAT32, [1, -1e9, 0.5])],
  ['t.i32s', arr(T.INT32, [1, 2, 6])],
  ['t.bools', arr(T.BOOL, [true, false])],
  ['t.empty', arr(T.UINT32, [])],
];

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

describe('GGUF writer', () => {
  it('writes every value type so that @huggingface/gguf and our reader read back the same types and values', async () => {
    const file = path.join(dir, 'types.gguf');
    await writeGguf(file, everyType, []);
    const { typedMetadata } = await gguf(file, { allowLocalFile: true, typedMetadata: true });
    const theirs = typedMetadata as unknown as Record<string, { value: unknown; type: number; subType?: number }>;
    expect(theirs.version.value).toBe(3);
    for (const [key, v] of everyType) {
      expect(theirs[key].type, key).toBe(v.type);
      if (v.type === T.ARRAY) expect(theirs[key].subType, key).toBe(v.itemType);
      const want = v.type === T.FLOAT32 ? Math.fround(v.value) : v.type === T.UINT64 || v.type === T.INT64 ? BigInt(v.value) : v.value;
      expect(theirs[key].value, key).toEqual(
        v.type === T.ARRAY && v.itemType === T.FLOAT32 ? (v.value as number[]).map(Math.fround) : want,
      );
    }
    const mine = await readGguf(file);
    for (const [key, v] of everyType) expect(mine.valueTypes.get(key)?.type, key).toBe(v.type);
    expect(mine.metadata.get('t.u64')).toBe((1n << 64n) - 1n);
    expect(mine.metadata.get('t.f64')).toBe(0.1);
  });

  it('lays tensors out at aligned, packed offsets with zero padding, honouring general.alignment', async () => {
    const file = path.join(dir, 'align.gguf');
    const calls: string[] = [];
    const tensor = (name: string, shape: number[], type: GgmlType, bytes: number): GgufTensorToWrite => ({
      name,
      shape,
      type,
      data: () => {
        calls.push(name);
        return new Uint8Array(bytes).fill(0xab);
      },
    });
    const tensors = [tensor('w', [3, 32], GgmlType.F32, 384), tensor('h', [5], GgmlType.F16, 10), tensor('q', [2, 64], GgmlType.Q8_0, 136)];
    const result = await writeGguf(file, [['general.alignment', { type: T.UINT32, value: 256 }]], tensors);
    expect(calls).toEqual(['w', 'h', 'q']);
    const parsed = await gguf(file, { allowLocalFile: true });
    expect(Number(parsed.tensorDataOffset) % 256).toBe(0);
    expect(Number(parsed.tensorDataOffset)).toBe(result.dataOffset);
    expect(parsed.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype, Number(t.offset)])).toEqual([
      ['w', [32, 3], 0, 0], // innermost first
      ['h', [5], 1, 512],
      ['q', [64, 2], 8, 768],
    ]);
    const bytes = readFileSync(file);
    expect(bytes.length).toBe(result.dataOffset + 768 + 256); // the last tensor is padded too
    const zeros = (from: number, to: number) =>
      expect(
        bytes.subarray(from, to).every((b) => b === 0),
        `${from}..${to}`,
      ).toBe(true);
    zeros(parsed.tensorInfoByteRange[1], result.dataOffset);
    zeros(result.dataOffset + 384, result.dataOffset + 512);
    zeros(result.dataOffset + 522, result.dataOffset + 768);
    zeros(result.dataOffset + 768 + 136, bytes.length);
    const mine = await readGguf(file);
    expect(Array.from(await mine.readRaw('h'))).toEqual(new Array(10).fill(0xab));
  });

  it('reads back F32 values exactly', async () => {
    const file = path.join(dir, 'values.gguf');
    const values = [1, -2.5, 3e-8, 65504, ...new Array(28).fill(0.25)];
    await writeGguf(file, [], [{ name: 'x', shape: [32], type: GgmlType.F32, data: () => f32Bytes(values) }]);
    expect(Array.from(await (await readGguf(file)).readF32('x'))).toEqual(values.map(Math.fround));
  });

  const bad: [string, [string, GgufValue][], GgufTensorToWrite[], RegExp][] = [
    ['a u8 of 256', [['k', { type: T.UINT8, value: 256 }]], [], /out of range/],
    ['a u32 that is not an integer', [['k', { type: T.UINT32, value: 1.5 }]], [], /not an integer/],
    ['a negative u64', [['k', { type: T.UINT64, value: -1n }]], [], /out of range/],
    ['a string array holding a number', [['k', arr(T.STRING, ['a', 1])]], [], /not a string/],
    [
      'a duplicate key',
      [
        ['k', { type: T.BOOL, value: true }],
        ['k', { type: T.BOOL, value: true }],
      ],
      [],
      /given twice/,
    ],
    ['an alignment that is not a power of two', [['general.alignment', { type: T.UINT32, value: 48 }]], [], /power of two/],
    ['an alignment stored as u64', [['general.alignment', { type: T.UINT64, value: 32n }]], [], /power of two/],
    [
      'a duplicate tensor',
      [],
      [
        { name: 'a', shape: [32], type: GgmlType.F32, data: () => new Uint8Array(128) },
        { name: 'a', shape: [32], type: GgmlType.F32, data: () => new Uint8Array(128) },
      ],
      /given twice/,
    ],
    ['5 dims', [], [{ name: 'a', shape: [1, 1, 1, 1, 32], type: GgmlType.F32, data: () => new Uint8Array(128) }], /dims/],
    ['a 64-byte name', [], [{ name: 'n'.repeat(64), shape: [32], type: GgmlType.F32, data: () => new Uint8Array(128) }], /name longer/],
    [
      'Q8_0 rows of 48',
      [],
      [{ name: 'a', shape: [2, 48], type: GgmlType.Q8_0, data: () => new Uint8Array(102) }],
      /multiple of the 32-value block/,
    ],
    [
      'data of the wrong size',
      [],
      [{ name: 'a', shape: [32], type: GgmlType.F32, data: () => new Uint8Array(100) }],
      /100 bytes given, 128 expected/,
    ],
  ];
  it.each(bad)('refuses %s and leaves no file behind', async (what, kvs, tensors, message) => {
    const file = path.join(dir, `bad-${what.replace(/\W+/g, '-')}.gguf`);
    await expect(writeGguf(file, kvs, tensors)).rejects.toThrow(message);
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a data callback that throws leaves the previous file untouched', async () => {
    const file = path.join(dir, 'keep.gguf');
    await writeGguf(file, [['v', { type: T.UINT32, value: 1 }]], []);
    const before = readFileSync(file);
    const failing = { name: 'a', shape: [32], type: GgmlType.F32, data: () => Promise.reject(new Error('disk on fire')) };
    await expect(writeGguf(file, [['v', { type: T.UINT32, value: 2 }]], [failing])).rejects.toThrow('disk on fire');
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
