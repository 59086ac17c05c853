import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError, StudioError } from '../../main/engine/errors.ts';
import { withAtomicFile, writeFileAtomic } from '../../main/engine/fs/atomic-write.ts';
import { encodeFromF32 } from '../../main/engine/formats/dtypes.ts';
import {
  findDuplicateKey,
  openSafetensors,
  parseSafetensorsHeader,
  writeSafetensors,
  type TensorToWrite,
} from '../../main/engine/formats/safetensors.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { workFolder } from '../helpers/work-folder.ts';

const dir = workFolder('st-test');
const enc = new TextEncoder();

/** A file made of an arbitrary header text and data buffer; `declared` overrides the length prefix. */
function fileBytes(header: string, data: Uint8Array = new Uint8Array(0), declared?: bigint): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const t = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
const parse = (bytes: Uint8Array) => parseSafetensorsHeader(bytes, bytes.length, 'bad.safetensors');

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('safetensors reader: one failing file per rule', () => {
  const utf8Broken = fileBytes('{"a":1}');
  utf8Broken[10] = 0xff;
  // [what, file bytes, error code, text the message must also contain (the tensor or key)]
  const cases: [string, Uint8Array, string, string][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), 'too-short', '5 bytes'],
    ['a header length over 100 MB', fileBytes('{}', undefined, 100_000_001n), 'header-too-large', '100000001'],
    ['a header length of 2^64-1', fileBytes('{}', undefined, 2n ** 64n - 1n), 'header-too-large', '18446744073709551615'],
    ['a header length beyond the file', fileBytes('{}', undefined, 1000n), 'header-beyond-file', '1000'],
    ['a header that is not UTF-8', utf8Broken, 'header-not-utf8', 'UTF-8'],
    ['a header that is not JSON', fileBytes('{"a": '), 'header-not-json', 'JSON'],
    ['a header that is not an object', fileBytes('[1,2]'), 'header-shape', 'object'],
    ['a tensor entry that is not an object', fileBytes('{"x": 5}'), 'tensor-entry', 'tensor x'],
    ['a tensor entry without dtype', fileBytes('{"x": {"shape": [], "data_offsets": [0, 0]}}'), 'tensor-entry', 'tensor x'],
    [
      'duplicate tensor names',
      fileBytes(`{"x":${JSON.stringify(t('F32', [1], 0, 4))},"x":${JSON.stringify(t('F32', [1], 4, 8))}}`, new Uint8Array(8)),
      'duplicate-key',
      '"x"',
    ],
    [
      'a duplicate key inside a tensor entry',
      fileBytes('{"x":{"dtype":"F16","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)),
      'duplicate-key',
      '"x" → "dtype"',
    ],
    ['a duplicate metadata key', fileBytes('{"__metadata__":{"k":"a","k":"b"}}'), 'duplicate-key', '"__metadata__" → "k"'],
    ['metadata with a non-string value', fileBytes('{"__metadata__":{"a":1}}'), 'metadata', '__metadata__.a'],
    ['metadata that is not an object', fileBytes('{"__metadata__":["a"]}'), 'metadata', '__metadata__'],
    [
      'an unknown dtype',
      fileBytes(JSON.stringify({ x: t('F12', [1], 0, 1) }), new Uint8Array(1)),
      'unknown-dtype',
      'tensor x: unknown dtype "F12"',
    ],
    [
      'a spec dtype the engine does not read',
      fileBytes(JSON.stringify({ x: t('F8_E4M3', [1], 0, 1) }), new Uint8Array(1)),
      'unsupported-dtype',
      'tensor x',
    ],
    ['a negative dimension', fileBytes(JSON.stringify({ x: t('F32', [-1], 0, 4) }), new Uint8Array(4)), 'shape', 'tensor x'],
    ['a fractional dimension', fileBytes(JSON.stringify({ x: t('F32', [1.5], 0, 6) }), new Uint8Array(6)), 'shape', 'tensor x'],
    [
      'a dimension beyond 2^53',
      fileBytes('{"x":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}}', new Uint8Array(1)),
      'shape',
      'tensor x',
    ],
    [
      'an element count that overflows',
      fileBytes(JSON.stringify({ x: t('F32', [2 ** 30, 2 ** 30, 2 ** 30], 0, 4) }), new Uint8Array(4)),
      'overflow',
      'tensor x',
    ],
    ['a byte size that overflows', fileBytes(JSON.stringify({ x: t('F64', [2 ** 51], 0, 4) }), new Uint8Array(4)), 'overflow', 'tensor x'],
    [
      'malformed data_offsets',
      fileBytes(JSON.stringify({ x: { dtype: 'F32', shape: [1], data_offsets: [0] } }), new Uint8Array(4)),
      'offsets',
      'tensor x',
    ],
    [
      'end - begin ≠ elements × dtype size',
      fileBytes(JSON.stringify({ x: t('F32', [2], 0, 4) }), new Uint8Array(4)),
      'size-mismatch',
      'tensor x',
    ],
    ['end before begin', fileBytes(JSON.stringify({ x: t('U8', [0], 4, 0) }), new Uint8Array(4)), 'size-mismatch', 'tensor x'],
    [
      'offsets that do not start at 0',
      fileBytes(JSON.stringify({ x: t('F32', [1], 4, 8) }), new Uint8Array(8)),
      'offset-start',
      'tensor x',
    ],
    [
      'a gap between tensors',
      fileBytes(JSON.stringify({ a: t('F32', [1], 0, 4), b: t('F32', [1], 8, 12) }), new Uint8Array(12)),
      'gap',
      'tensor b',
    ],
    [
      'overlapping tensors',
      fileBytes(JSON.stringify({ a: t('F32', [2], 0, 8), b: t('F32', [1], 4, 8) }), new Uint8Array(8)),
      'overlap',
      'tensor b',
    ],
    ['bytes after the last tensor', fileBytes(JSON.stringify({ a: t('F32', [1], 0, 4) }), new Uint8Array(6)), 'trailing-bytes', '2 bytes'],
    ['bytes after a header with no tensors', fileBytes('{}', new Uint8Array(1)), 'trailing-bytes', '1 bytes'],
    [
      'a file shorter than the header says',
      fileBytes(JSON.stringify({ a: t('F32', [4], 0, 16) }), new Uint8Array(8)),
      'truncated',
      '16 bytes',
    ],
  ];

  it.each(cases)('rejects %s', async (_what, bytes, code, mentions) => {
    const err = caught(() => parse(bytes));
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).code).toBe(`safetensors/${code}`);
    expect((err as FormatError).message).toMatch(/^bad\.safetensors: /);
    expect((err as FormatError).message).toContain(mentions);
    // The same through the file reader, naming the path.
    const p = path.join(dir, `${code}-${cases.findIndex((c) => c[1] === bytes)}.safetensors`);
    writeFileSync(p, bytes);
    const fromDisk = await openSafetensors(p).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(fromDisk).toBeInstanceOf(FormatError);
    expect((fromDisk as FormatError).code).toBe(`safetensors/${code}`);
    expect((fromDisk as FormatError).message.startsWith(`${p}: `)).toBe(true);
  });

  it('accepts padded headers, zero-size tensors, null metadata, extra entry fields and an empty file', () => {
    const header = `  ${JSON.stringify({ __metadata__: { format: 'pt' }, e: t('F32', [0, 3], 0, 0), a: t('F16', [2], 0, 4) })}    `;
    const r = parse(fileBytes(header, new Uint8Array(4)));
    expect(r.entries.map((e) => [e.name, e.begin, e.end])).toEqual([
      ['a', 0, 4],
      ['e', 0, 0],
    ]);
    expect(r.metadata).toEqual({ format: 'pt' });
    expect(r.dataOffset).toBe(8 + header.length);
    // A zero-size tensor may sit at the very end too, and the order of keys need not follow the offsets.
    expect(
      parse(fileBytes(JSON.stringify({ z: t('U8', [0], 2, 2), y: t('U8', [2], 0, 2) }), new Uint8Array(2))).entries.map((e) => e.name),
    ).toEqual(['y', 'z']);
    expect(
      parse(fileBytes('{"__metadata__":null,"x":{"dtype":"BOOL","shape":[],"data_offsets":[0,1],"extra":1}}', new Uint8Array(1))).entries[0]
        .shape,
    ).toEqual([]);
    expect(parse(fileBytes('{}')).entries).toEqual([]);
    // "__proto__" is an ordinary key in both places.
    const proto = parse(
      fileBytes('{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)),
    );
    expect(Object.getOwnPropertyDescriptor(proto.metadata, '__proto__')?.value).toBe('x');
    expect(proto.entries[0].name).toBe('__proto__');
  });

  it('finds duplicate keys at any depth, and none in valid JSON with tricky strings', () => {
    expect(findDuplicateKey('{"a":[{"b":1},{"b":2}],"c":"\\"a\\"","d":{"a":1}}')).toBeUndefined();
    expect(findDuplicateKey('{"a":{"b":[1,{"c":1,"c":2}]}}')).toEqual(['a', 'b', 'c']);
    expect(findDuplicateKey('{"\\u0061":1,"a":2}')).toEqual(['a']); // escapes are decoded before comparing
  });

  it('refuses a folder and a missing file with the path in the message', async () => {
    await expect(openSafetensors(dir)).rejects.toThrow(`${dir}: is a folder, not a regular file`);
    await expect(openSafetensors(path.join(dir, 'nope.safetensors'))).rejects.toThrow(/nope\.safetensors: no such file/);
  });
});

describe('safetensors reader: lazy positioned reads', () => {
  it('reads nothing but the header at open, and each tensor from its own bytes when asked', async () => {
    const p = path.join(dir, 'lazy.safetensors');
    await writeSafetensors(p, [
      { name: 'a', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
      { name: 'b', dtype: 'U8', shape: [2], data: Uint8Array.of(4, 5) },
    ]);
    const f = await openSafetensors(p);
    expect(f.headerSize % 8).toBe(0);
    expect(f.dataOffset).toBe(8 + f.headerSize);
    // Change the data on disk after open: a lazy reader sees the new bytes.
    const h = await open(p, 'r+');
    await h.write(Uint8Array.of(9, 9), 0, 2, f.dataOffset + 3);
    await h.close();
    expect([...(await f.readRaw('b'))]).toEqual([9, 9]);
    expect([...(await f.readRaw('a'))]).toEqual([1, 2, 3]);
    expect(f.byteRange('b')).toEqual([f.dataOffset + 3, f.dataOffset + 5]);
    await expect(f.readRaw('c')).rejects.toMatchObject({ code: 'safetensors/no-tensor' });
    await expect(f.readF32('a')).rejects.toThrow(/tensor a: dtype U8 is not a float type/);
    await f.close();
    await f.close(); // closing twice is harmless
    await expect(f.readRaw('a')).rejects.toThrow(/already closed/);
  });

  it('names the file and tensor when the file shrinks after open', async () => {
    const p = path.join(dir, 'shrinks.safetensors');
    await writeSafetensors(p, [{ name: 'w', dtype: 'F32', shape: [4], data: new Uint8Array(16) }]);
    const f = await openSafetensors(p);
    const h = await open(p, 'r+');
    await h.truncate(f.dataOffset + 8);
    await h.close();
    await expect(f.readRaw('w')).rejects.toThrow(new RegExp(`^${p}: tensor w: file ended`));
    await f.close();
  });
});

describe('safetensors writer', () => {
  it('writes the exact bytes the spec prescribes for a tiny file', async () => {
    const p = path.join(dir, 'tiny.safetensors');
    await writeSafetensors(p, [
      { name: 'b', dtype: 'U8', shape: [2], data: Uint8Array.of(7, 8) },
      { name: 'a', dtype: 'I8', shape: [1], data: () => new Uint8Array(Int8Array.of(-1).buffer) },
    ]);
    // 105 bytes of JSON, sorted by name, padded with 7 spaces to 112 (a multiple of 8); N = 112 as a u64 LE.
    const json = '{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}';
    expect(json.length).toBe(105);
    const expected = [112, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from(json + '       ', 'ascii'), 0xff, 7, 8];
    expect([...readFileSync(p)]).toEqual(expected);
  });

  it('round-trips F32, F16, BF16, I8, U8, zero-size tensors and metadata', async () => {
    const p = path.join(dir, 'rt.safetensors');
    const values = Float32Array.of(0, 1, -2.5, 65504, 1e-7, 3.140625);
    const tensors: TensorToWrite[] = [
      { name: 'f32', dtype: 'F32', shape: [2, 3], data: new Uint8Array(values.buffer) },
      { name: 'f16', dtype: 'F16', shape: [6], data: encodeFromF32(values, 'F16') },
      { name: 'bf16', dtype: 'BF16', shape: [3, 2], data: () => encodeFromF32(values, 'BF16') },
      { name: 'i8', dtype: 'I8', shape: [2, 2], data: new Uint8Array(Int8Array.of(-128, -1, 0, 127).buffer) },
      { name: 'u8', dtype: 'U8', shape: [3], data: async () => Uint8Array.of(0, 128, 255) },
      { name: 'empty', dtype: 'F32', shape: [0, 64], data: new Uint8Array(0) },
      { name: 'scalar', dtype: 'I32', shape: [], data: new Uint8Array(Int32Array.of(-7).buffer) },
    ];
    await writeSafetensors(p, tensors, { metadata: { format: 'pt', note: 'ünïcode ✓' } });
    const f = await openSafetensors(p);
    expect(f.metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
    expect(f.list().map((x) => x.name)).toEqual(['bf16', 'empty', 'f16', 'f32', 'i8', 'scalar', 'u8']);
    for (const x of tensors) {
      expect(f.info(x.name)).toEqual({ name: x.name, dtype: x.dtype, shape: x.shape });
      const bytes = typeof x.data === 'function' ? await x.data() : x.data;
      expect(await f.readRaw(x.name)).toEqual(new Uint8Array(bytes as Uint8Array));
    }
    expect(await f.readF32('f32')).toEqual(values);
    expect(await f.readF32('f16')).toEqual(Float32Array.of(0, 1, -2.5, 65504, 1.1920928955078125e-7, 3.140625));
    expect(await f.readF32('bf16')).toEqual(Float32Array.of(0, 1, -2.5, 65536, 1.0011717677116394e-7, 3.140625));
    expect(await f.readF32('empty')).toEqual(new Float32Array(0));
    expect(new Int8Array((await f.readRaw('i8')).buffer)).toEqual(Int8Array.of(-128, -1, 0, 127));
    await f.close();
  });

  it('makes lazy tensors in name order, at most one ahead of the one being written', async () => {
    const p = path.join(dir, 'order.safetensors');
    const events: string[] = [];
    const lazy = (name: string): TensorToWrite => ({
      name,
      dtype: 'U8',
      shape: [1],
      data: () => {
        events.push(`make ${name}`);
        return Uint8Array.of(name.charCodeAt(0));
      },
    });
    await writeSafetensors(p, [lazy('c'), lazy('a'), lazy('b')], { hooks: { afterTensor: (n) => void events.push(`wrote ${n}`) } });
    expect(events).toEqual(['make a', 'make b', 'wrote a', 'make c', 'wrote b', 'wrote c']);
  });

  it('rejects bad input before creating anything, naming the file', async () => {
    const p = path.join(dir, 'invalid.safetensors');
    const bad: [TensorToWrite[], string][] = [
      [
        [
          { name: 'x', dtype: 'F32', shape: [1], data: new Uint8Array(4) },
          { name: 'x', dtype: 'F32', shape: [1], data: new Uint8Array(4) },
        ],
        'duplicate-key',
      ],
      [[{ name: 'x', dtype: 'F32', shape: [-1], data: new Uint8Array(4) }], 'shape'],
      [[{ name: 'x', dtype: 'F8' as never, shape: [1], data: new Uint8Array(1) }], 'unknown-dtype'],
      [[{ name: '__metadata__', dtype: 'U8', shape: [1], data: new Uint8Array(1) }], 'tensor-entry'],
      [[{ name: 'x', dtype: 'F64', shape: [2 ** 40, 2 ** 20], data: new Uint8Array(1) }], 'overflow'],
    ];
    for (const [tensors, code] of bad) {
      await expect(writeSafetensors(p, tensors)).rejects.toMatchObject({
        code: `safetensors/${code}`,
        message: expect.stringContaining(p),
      });
    }
    await expect(writeSafetensors(p, [], { metadata: { a: 1 as never } })).rejects.toMatchObject({ code: 'safetensors/metadata' });
    expect(readdirSync(dir).filter((n) => n.includes('invalid'))).toEqual([]);
  });

  it.each([
    [
      'a lazy tensor throws',
      {
        data: () => {
          throw new Error('disk full');
        },
      },
      {},
      /fail\.safetensors: could not write: disk full/,
    ],
    [
      'a lazy tensor has the wrong length',
      { data: () => new Uint8Array(3) },
      {},
      /fail\.safetensors: tensor b: got 3 bytes, F32 \[1\] needs 4/,
    ],
    [
      'the hook after a tensor throws',
      {},
      {
        afterTensor: (n: string) => {
          if (n === 'b') throw new Error('killed');
        },
      },
      /could not write: killed/,
    ],
    [
      'the rename is interrupted',
      {},
      {
        beforeRename: () => {
          throw new Error('power cut');
        },
      },
      /could not write: power cut/,
    ],
  ])('leaves no file and no temp file when %s', async (_what, override, hooks, message) => {
    const p = path.join(dir, 'fail.safetensors');
    const tensors: TensorToWrite[] = [
      { name: 'a', dtype: 'F32', shape: [1], data: new Uint8Array(4) },
      { name: 'b', dtype: 'F32', shape: [1], data: new Uint8Array(4), ...override },
      { name: 'c', dtype: 'F32', shape: [1], data: new Uint8Array(4) },
    ];
    const err = await writeSafetensors(p, tensors, { hooks }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StudioError);
    expect((err as Error).message).toMatch(message);
    expect(readdirSync(dir).filter((n) => n.includes('fail'))).toEqual([]);
  });

  it('keeps the old file intact when overwriting it fails', async () => {
    const p = path.join(dir, 'keep.safetensors');
    await writeSafetensors(p, [{ name: 'old', dtype: 'U8', shape: [1], data: Uint8Array.of(1) }]);
    const before = readFileSync(p);
    await expect(
      writeSafetensors(p, [{ name: 'new', dtype: 'U8', shape: [1], data: () => Promise.reject(new Error('no')) }]),
    ).rejects.toThrow();
    expect(readFileSync(p)).toEqual(before);
    expect(readdirSync(dir).filter((n) => n.includes('keep'))).toEqual(['keep.safetensors']);
  });
});

describe('atomic writes', () => {
  it('writeFileAtomic replaces the file whole, and leaves nothing on failure', async () => {
    const p = path.join(dir, 'config.json');
    await writeFileAtomic(p, '{"a":1}');
    await writeFileAtomic(p, '{"a":2}');
    expect(readFileSync(p, 'utf8')).toBe('{"a":2}');
    await expect(writeFileAtomic(p, '{"a":3}', { beforeRename: () => Promise.reject(new Error('crash')) })).rejects.toThrow('crash');
    expect(readFileSync(p, 'utf8')).toBe('{"a":2}');
    const result = await withAtomicFile(path.join(dir, 'x.bin'), async (h) => {
      await h.write(Uint8Array.of(1, 2));
      return 'done';
    });
    expect(result).toBe('done');
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});

describe.skipIf(missingShared('models/stories260K/model.safetensors', 'models/stories260K/config.json'))('a real file: stories260K', () => {
  const file = sharedPath('models/stories260K/model.safetensors');
  // Read in beforeAll, not while vitest collects: a skipped block's body still runs at collection.
  let config: Record<string, number | boolean>;
  beforeAll(() => {
    config = JSON.parse(readFileSync(sharedPath('models/stories260K/config.json'), 'utf8'));
  });

  // One test: a file written by Python's safetensors is an extra check on the reader and the writer.
  it('has every tensor config.json implies, with its shape, as F32; our writer reproduces it byte for byte', async () => {
    const f = await openSafetensors(file);
    const hidden = config.hidden_size as number;
    const headDim = hidden / (config.num_attention_heads as number);
    const kv = (config.num_key_value_heads as number) * headDim;
    const inter = config.intermediate_size as number;
    const expected: Record<string, number[]> = {
      'model.embed_tokens.weight': [config.vocab_size as number, hidden],
      'model.norm.weight': [hidden],
    };
    for (let l = 0; l < (config.num_hidden_layers as number); l++) {
      const p = `model.layers.${l}`;
      Object.assign(expected, {
        [`${p}.input_layernorm.weight`]: [hidden],
        [`${p}.post_attention_layernorm.weight`]: [hidden],
        [`${p}.self_attn.q_proj.weight`]: [hidden, hidden],
        [`${p}.self_attn.k_proj.weight`]: [kv, hidden],
        [`${p}.self_attn.v_proj.weight`]: [kv, hidden],
        [`${p}.self_attn.o_proj.weight`]: [hidden, hidden],
        [`${p}.mlp.gate_proj.weight`]: [inter, hidden],
        [`${p}.mlp.up_proj.weight`]: [inter, hidden],
        [`${p}.mlp.down_proj.weight`]: [hidden, inter],
      });
    }
    expect(config.tie_word_embeddings).toBe(true); // so there is no lm_head.weight
    expect(Object.fromEntries(f.list().map((x) => [x.name, x.shape]))).toEqual(expected);
    expect(new Set(f.list().map((x) => x.dtype))).toEqual(new Set(['F32']));
    const norm = await f.readF32('model.norm.weight');
    expect(norm.length).toBe(hidden);
    expect(norm.every(Number.isFinite)).toBe(true);
    await f.close();

    // Reproduced byte for byte by our writer: the same header JSON, padding and data.
    const src = await openSafetensors(file);
    const out = path.join(dir, 'stories-copy.safetensors');
    await writeSafetensors(
      out,
      src.list().map((x) => ({ ...x, data: () => src.readRaw(x.name) })),
      { metadata: src.metadata },
    );
    await src.close();
    expect(readFileSync(out).equals(readFileSync(file))).toBe(true);
  });
});
