import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * One failing file per rule of the strict reader. The files are built byte by byte here (not with our writer), so
 * the reader is checked against the spec's layout rather than against our own writer.
 */
const dir = workFolder('gguf-reader');

interface RawTensor {
  name: string;
  dims: number[];
  type: number;
  offset: number | bigint;
}
interface RawFile {
  magic?: string;
  version?: number;
  tensorCount?: bigint;
  kvCount?: bigint;
  kvs?: Buffer[];
  tensors?: RawTensor[];
  alignment?: number;
  data?: number;
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const u64 = (v: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};
const gstr = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
/** A key-value pair: key, u32 value type, value bytes. */
const kv = (key: string, type: number, value: Buffer) => Buffer.concat([gstr(key), u32(type), value]);
const kvU32 = (key: string, v: number) => kv(key, 4, u32(v));

function build(f: RawFile): Buffer {
  const kvs = f.kvs ?? [kv('general.architecture', 8, gstr('llama'))];
  const tensors = f.tensors ?? [
    { name: 'a', dims: [32, 2], type: 0, offset: 0 }, // F32 [2, 32]: 256 bytes
    { name: 'b', dims: [32], type: 0, offset: 256 },
  ];
  const header = Buffer.concat([
    Buffer.from(f.magic ?? 'GGUF', 'latin1'),
    u32(f.version ?? 3),
    u64(f.tensorCount ?? BigInt(tensors.length)),
    u64(f.kvCount ?? BigInt(kvs.length)),
    ...kvs,
    ...tensors.map((t) => Buffer.concat([gstr(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(t.offset)])),
  ]);
  const alignment = f.alignment ?? 32;
  const pad = (alignment - (header.length % alignment)) % alignment;
  return Buffer.concat([header, Buffer.alloc(pad), Buffer.alloc(f.data ?? 384)]);
}

function file(name: string, bytes: Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe('the strict GGUF reader', () => {
  it('accepts the well-formed file these variants are made from', async () => {
    const g = await readGguf(file('good.gguf', build({})));
    expect(g.tensors.map((t) => [t.name, t.shape, t.offset, t.bytes])).toEqual([
      ['a', [2, 32], 0, 256],
      ['b', [32], 256, 128],
    ]);
    expect(g.metadata.get('general.architecture')).toBe('llama');
    expect(g.dataOffset % 32).toBe(0);
  });

  const long = 'x'.repeat(64);
  const rejections: [string, Buffer, string][] = [
    ['bad magic', build({ magic: 'GGUX' }), 'gguf/magic'],
    ['GGUF v1', build({ version: 1 }), 'gguf/version'],
    ['a future version', build({ version: 4 }), 'gguf/version'],
    ['an absurd tensor count', build({ tensorCount: 1n << 40n }), 'gguf/absurd-count'],
    ['an absurd key-value count', build({ kvCount: 1n << 40n }), 'gguf/absurd-count'],
    ['an absurd string length', build({ kvs: [Buffer.concat([u64(1n << 60n), Buffer.from('k')])] }), 'gguf/absurd-count'],
    ['an absurd array length', build({ kvs: [kv('k', 9, Buffer.concat([u32(4), u64(1n << 40n)]))] }), 'gguf/absurd-count'],
    ['a duplicate key', build({ kvs: [kvU32('general.x', 1), kvU32('general.x', 2)] }), 'gguf/duplicate-key'],
    ['an unknown value type', build({ kvs: [kv('k', 13, u32(0))] }), 'gguf/value-type'],
    ['an array of arrays', build({ kvs: [kv('k', 9, Buffer.concat([u32(9), u64(0)]))] }), 'gguf/value-type'],
    ['a bool that is neither 0 nor 1', build({ kvs: [kv('k', 7, Buffer.from([2]))] }), 'gguf/value'],
    [
      'a duplicate tensor name',
      build({
        tensors: [
          { name: 'a', dims: [32], type: 0, offset: 0 },
          { name: 'a', dims: [32], type: 0, offset: 128 },
        ],
      }),
      'gguf/duplicate-tensor',
    ],
    ['a tensor name of 64 bytes', build({ tensors: [{ name: long, dims: [32], type: 0, offset: 0 }] }), 'gguf/name'],
    ['more than 4 dims', build({ tensors: [{ name: 'a', dims: [1, 1, 1, 1, 32], type: 0, offset: 0 }] }), 'gguf/dims'],
    ['an unknown tensor type', build({ tensors: [{ name: 'a', dims: [32], type: 99, offset: 0 }] }), 'gguf/tensor-type'],
    ['a type we do not decode (Q4_0)', build({ tensors: [{ name: 'a', dims: [32], type: 2, offset: 0 }] }), 'gguf/tensor-type'],
    ['Q8_0 rows that are not whole blocks', build({ tensors: [{ name: 'a', dims: [48], type: 8, offset: 0 }] }), 'gguf/tensor-size'],
    ['a misaligned offset', build({ tensors: [{ name: 'a', dims: [32], type: 0, offset: 8 }] }), 'gguf/misaligned'],
    [
      'an aligned offset that leaves a gap',
      build({
        tensors: [
          { name: 'a', dims: [32], type: 0, offset: 0 },
          { name: 'b', dims: [32], type: 0, offset: 256 },
        ],
      }),
      'gguf/offset',
    ],
    [
      'tensors out of order',
      build({
        tensors: [
          { name: 'a', dims: [32], type: 0, offset: 128 },
          { name: 'b', dims: [32], type: 0, offset: 0 },
        ],
      }),
      'gguf/offset',
    ],
    ['an offset far beyond the file', build({ tensors: [{ name: 'a', dims: [32], type: 0, offset: 1n << 52n }] }), 'gguf/offset'],
    ['too little data', build({ data: 300 }), 'gguf/too-little-data'],
    ['a header cut short', build({}).subarray(0, 40), 'gguf/truncated'],
    ['general.alignment not a power of two', build({ kvs: [kvU32('general.alignment', 48)], alignment: 48 }), 'gguf/alignment'],
    ['general.alignment stored as a u64', build({ kvs: [kv('general.alignment', 10, u64(32))] }), 'gguf/alignment'],
  ];
  it.each(rejections)('rejects %s', async (what, bytes, code) => {
    const p = file(`${what.replace(/\W+/g, '-')}.gguf`, bytes);
    const err = await readGguf(p).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, what).toBeDefined();
    expect((err as { code: string }).code).toBe(code);
    expect((err as Error).name).toBe('FormatError');
    expect((err as Error).message).toContain(p);
  });

  it('reads every value type, and a custom alignment', async () => {
    const f32 = Buffer.alloc(4);
    f32.writeFloatLE(1.5);
    const f64 = Buffer.alloc(8);
    f64.writeDoubleLE(-2.25);
    const i64 = Buffer.alloc(8);
    i64.writeBigInt64LE(-5n);
    const kvs = [
      kv('u8', 0, Buffer.from([200])),
      kv('i8', 1, Buffer.from([0xff])),
      kv('u16', 2, Buffer.from([1, 1])),
      kv('i16', 3, Buffer.from([0xfe, 0xff])),
      kvU32('u32', 7),
      kv('i32', 5, Buffer.from([0xfd, 0xff, 0xff, 0xff])),
      kv('f32', 6, f32),
      kv('bool', 7, Buffer.from([1])),
      kv('str', 8, gstr('hé')),
      kv('u64', 10, u64(1n << 40n)),
      kv('i64', 11, i64),
      kv('f64', 12, f64),
      kv('arr', 9, Buffer.concat([u32(8), u64(2), gstr('x'), gstr('')])),
      kvU32('general.alignment', 64),
    ];
    const g = await readGguf(
      file('types.gguf', build({ kvs, alignment: 64, tensors: [{ name: 'a', dims: [32], type: 1, offset: 0 }], data: 64 })),
    );
    expect(Object.fromEntries(g.metadata)).toEqual({
      u8: 200,
      i8: -1,
      u16: 257,
      i16: -2,
      u32: 7,
      i32: -3,
      f32: 1.5,
      bool: true,
      str: 'hé',
      u64: 1n << 40n,
      i64: -5n,
      f64: -2.25,
      arr: ['x', ''],
      'general.alignment': 64,
    });
    expect(g.valueTypes.get('arr')).toEqual({ type: 9, itemType: 8 });
    expect(g.alignment).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    expect(Array.from(await g.readF32('a'))).toEqual(new Array(32).fill(0));
  });

  it('on any corruption of a good file, either reads it or throws a FormatError (fuzzed)', async () => {
    const good = build({
      kvs: [
        kv('general.architecture', 8, gstr('llama')),
        kv('arr', 9, Buffer.concat([u32(5), u64(3), u32(1), u32(2), u32(3)])),
        kvU32('general.alignment', 32),
      ],
    });
    const p = path.join(dir, 'fuzz.gguf');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(good.length),
        async (edits, cut) => {
          const bytes = Buffer.from(good);
          for (const [at, value] of edits) bytes[at] = value;
          writeFileSync(p, bytes.subarray(0, Math.max(cut, 24)));
          const outcome = await readGguf(p).then(
            () => 'read',
            (e: Error) => e.name,
          );
          expect(['read', 'FormatError']).toContain(outcome);
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });
});
