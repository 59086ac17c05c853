import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../main/engine/errors.ts';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { f16ToF32, f32ToBf16, f32ToF16, bf16ToF32 } from '../../main/engine/formats/dtypes.ts';
import { openSafetensors, parseSafetensorsHeader, writeSafetensors } from '../../main/engine/formats/safetensors.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'st-test-'));
const enc = new TextEncoder();

/** A file made of an arbitrary header text and data buffer. */
function fileBytes(header: string, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const parse = (bytes: Uint8Array) => parseSafetensorsHeader(bytes, bytes.length, 'bad.safetensors');

describe('safetensors: every rule of the format', () => {
  const t = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
  const cases: [string, Uint8Array, string][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), 'too-short'],
    ['a header length over 100 MB', fileBytes('{}', undefined, 200_000_000n), 'header-too-large'],
    ['a header length beyond the file', fileBytes('{}', undefined, 1000n), 'header-beyond-file'],
    ['a header that is not UTF-8', (() => { const b = fileBytes('{"a":1}'); b[9] = 0xff; return b; })(), 'header-not-utf8'],
    ['a header that is not JSON', fileBytes('{"a": '), 'header-not-json'],
    ['a header that is not an object', fileBytes('[1,2]'), 'header-shape'],
    ['duplicate tensor names', fileBytes(`{"x":${JSON.stringify(t('F32', [1], 0, 4))},"x":${JSON.stringify(t('F32', [1], 4, 8))}}`, new Uint8Array(8)), 'duplicate-key'],
    ['metadata with a non-string value', fileBytes('{"__metadata__":{"a":1}}'), 'metadata'],
    ['an unknown dtype', fileBytes(JSON.stringify({ x: t('F8', [1], 0, 1) }), new Uint8Array(1)), 'unknown-dtype'],
    ['a negative dimension', fileBytes(JSON.stringify({ x: t('F32', [-1], 0, 4) }), new Uint8Array(4)), 'shape'],
    ['an element count that overflows', fileBytes(JSON.stringify({ x: t('F32', [2 ** 30, 2 ** 30, 2 ** 30], 0, 4) }), new Uint8Array(4)), 'overflow'],
    ['a byte size that does not match dtype × shape', fileBytes(JSON.stringify({ x: t('F32', [2], 0, 4) }), new Uint8Array(4)), 'size-mismatch'],
    ['offsets that do not start at 0', fileBytes(JSON.stringify({ x: t('F32', [1], 4, 8) }), new Uint8Array(8)), 'gap'],
    ['a gap between tensors', fileBytes(JSON.stringify({ a: t('F32', [1], 0, 4), b: t('F32', [1], 8, 12) }), new Uint8Array(12)), 'gap'],
    ['overlapping tensors', fileBytes(JSON.stringify({ a: t('F32', [2], 0, 8), b: t('F32', [1], 4, 8) }), new Uint8Array(8)), 'overlap'],
    ['bytes after the last tensor', fileBytes(JSON.stringify({ a: t('F32', [1], 0, 4) }), new Uint8Array(6)), 'trailing-bytes'],
    ['a file shorter than the header says', fileBytes(JSON.stringify({ a: t('F32', [4], 0, 16) }), new Uint8Array(8)), 'truncated'],
  ];
  it.each(cases)('rejects %s', async (_what, bytes, code) => {
    let err: unknown;
    try {
      parse(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).code).toBe(`safetensors/${code}`);
    expect((err as FormatError).message).toMatch(/^bad\.safetensors: /);
    // The same through the file reader, naming the path.
    const p = path.join(dir, `${code}.safetensors`);
    writeFileSync(p, bytes);
    await expect(openSafetensors(p)).rejects.toThrow(p);
  });

  it('accepts padded headers, zero-size tensors and metadata', () => {
    const header = `  ${JSON.stringify({ __metadata__: { format: 'pt' }, e: t('F32', [0, 3], 0, 0), a: t('F16', [2], 0, 4) })}    `;
    const r = parse(fileBytes(header, new Uint8Array(4)));
    expect(r.entries.map((e) => e.name)).toEqual(['a', 'e']);
    expect(r.metadata).toEqual({ format: 'pt' });
  });
});

describe('safetensors writer', () => {
  it('writes sorted, space-padded headers and exact bytes', async () => {
    const p = path.join(dir, 'tiny.safetensors');
    await writeSafetensors(p, [
      { name: 'b', dtype: 'U8', shape: [2], data: Uint8Array.from([7, 8]) },
      { name: 'a', dtype: 'I8', shape: [1], data: () => Uint8Array.from([255]) },
    ]);
    const bytes = readFileSync(p);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = bytes.subarray(8, 8 + n).toString('utf8');
    expect(header.trimEnd()).toBe('{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}');
    expect([...bytes.subarray(8 + n)]).toEqual([255, 7, 8]);
  });

  it('round-trips F32, F16 and BF16 and reads them as f32', async () => {
    const p = path.join(dir, 'rt.safetensors');
    const values = Float32Array.from([0, 1, -2.5, 65504, 1e-7, 3.140625]);
    const f16 = new Uint8Array(12);
    const bf16 = new Uint8Array(12);
    values.forEach((v, i) => {
      new DataView(f16.buffer).setUint16(2 * i, f32ToF16(v), true);
      new DataView(bf16.buffer).setUint16(2 * i, f32ToBf16(v), true);
    });
    await writeSafetensors(p, [
      { name: 'f32', dtype: 'F32', shape: [2, 3], data: new Uint8Array(values.buffer) },
      { name: 'f16', dtype: 'F16', shape: [6], data: f16 },
      { name: 'bf16', dtype: 'BF16', shape: [6], data: bf16 },
    ], { metadata: { format: 'pt' } });
    const f = await openSafetensors(p);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect([...(await f.readF32('f32'))]).toEqual([...values]);
    expect([...(await f.readF32('f16'))]).toEqual([...values].map((v) => f16ToF32(f32ToF16(v))));
    expect([...(await f.readF32('bf16'))]).toEqual([...values].map((v) => bf16ToF32(f32ToBf16(v))));
    await f.close();
  });

  it('f16 conversion round-trips every finite half exactly and rounds to nearest even', () => {
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) continue;
      expect(f32ToF16(v)).toBe(h);
    }
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to the even mantissa
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(70000)).toBe(0x7c00);
  });

  it('leaves no file and no temp file when writing fails midway', async () => {
    const p = path.join(dir, 'fail.safetensors');
    await expect(
      writeSafetensors(p, [
        { name: 'a', dtype: 'F32', shape: [1], data: new Uint8Array(4) },
        { name: 'b', dtype: 'F32', shape: [1], data: () => { throw new Error('disk full'); } },
      ]),
    ).rejects.toThrow('disk full');
    expect(readdirSync(dir).filter((n) => n.includes('fail'))).toEqual([]);
  });

  it('survives thousands of random and mutated files with typed errors only', async () => {
    const valid = fileBytes(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F16', shape: [1, 2], data_offsets: [8, 12] } }), new Uint8Array(12));
    const check = (bytes: Uint8Array) => {
      try {
        parse(bytes);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => check(b)), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(valid.length), (edits, cut) => {
        const b = valid.slice(0, Math.max(cut, 1));
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        check(b);
      }),
      { numRuns: 3000 },
    );
  });
});

describe.skipIf(missingShared('models/stories260K/model.safetensors'))('real and sharded checkpoints', () => {
  it('reads stories260K lazily with names and shapes from config.json', async () => {
    const ckpt = await openCheckpoint(sharedPath('models/stories260K'));
    expect(ckpt.list().length).toBe(47);
    expect(ckpt.info('model.layers.0.self_attn.k_proj.weight').shape).toEqual([32, 64]);
    expect((await ckpt.readF32('model.norm.weight')).length).toBe(64);
    await ckpt.close();
  });

  it('reads a sharded folder and checks its index', async () => {
    const shardDir = mkdtempSync(path.join(tmpdir(), 'shards-'));
    await writeSafetensors(path.join(shardDir, 'model-00001-of-00002.safetensors'), [{ name: 'a', dtype: 'F32', shape: [2], data: new Uint8Array(8) }]);
    await writeSafetensors(path.join(shardDir, 'model-00002-of-00002.safetensors'), [{ name: 'b', dtype: 'F16', shape: [2], data: new Uint8Array(4) }]);
    const index = (total: number, map: Record<string, string>) =>
      writeFileSync(path.join(shardDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: map }));
    index(12, { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' });
    const ckpt = await openCheckpoint(shardDir);
    expect(ckpt.list().map((t) => t.name)).toEqual(['a', 'b']);
    await ckpt.close();
    index(13, { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' });
    await expect(openCheckpoint(shardDir)).rejects.toThrow(/index\.json: metadata\.total_size is 13 but the shards hold 12/);
    index(12, { a: 'model-00002-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' });
    await expect(openCheckpoint(shardDir)).rejects.toThrow(/maps a to model-00002-of-00002\.safetensors, but that shard does not hold it/);
    index(12, { a: 'model-00001-of-00002.safetensors', b: 'model-00003-of-00002.safetensors' });
    await expect(openCheckpoint(shardDir)).rejects.toThrow(/lists shard model-00003-of-00002\.safetensors, which does not exist/);
  });

  it('names the folder when there are no weights or only pickles', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'noweights-'));
    await expect(openCheckpoint(empty)).rejects.toThrow(/no model\.safetensors/);
    writeFileSync(path.join(empty, 'pytorch_model.bin'), 'x');
    await expect(openCheckpoint(empty)).rejects.toThrow(/convert them to safetensors first/);
  });
});
