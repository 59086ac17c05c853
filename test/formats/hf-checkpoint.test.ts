import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../main/engine/errors.ts';
import { INDEX_FILE, openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { openSafetensors, writeSafetensors } from '../../main/engine/formats/safetensors.ts';
import { tinyModel } from '../helpers/synthetic.ts';

// A model of stories260K's shape written by the test (main/engine/synthetic/synthetic-model.ts): no trained weights needed here.
const MODEL_DIR = await tinyModel();

const root = mkdtempSync(path.join(tmpdir(), 'ckpt-test-'));
const SHARD1 = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';

/** A two-shard folder: a (F32 [2]) and c (U8 [3]) in shard 1, b (F16 [2]) in shard 2; 8 + 3 + 4 = 15 bytes. */
async function shardedFolder(name: string): Promise<string> {
  const d = path.join(root, name);
  mkdirSync(d);
  await writeSafetensors(path.join(d, SHARD1), [
    { name: 'a', dtype: 'F32', shape: [2], data: new Uint8Array(Float32Array.of(1.5, -2).buffer) },
    { name: 'c', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
  ]);
  await writeSafetensors(path.join(d, SHARD2), [{ name: 'b', dtype: 'F16', shape: [2], data: Uint8Array.of(0x00, 0x3c, 0x00, 0xc0) }]);
  writeIndex(d, { metadata: { total_size: 15 }, weight_map: { a: SHARD1, b: SHARD2, c: SHARD1 } });
  return d;
}
const writeIndex = (d: string, index: unknown) =>
  writeFileSync(path.join(d, INDEX_FILE), typeof index === 'string' ? index : JSON.stringify(index));

async function rejection(p: Promise<unknown>): Promise<FormatError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FormatError);
  return e as FormatError;
}

describe('sharded checkpoints', () => {
  it('reads a sharded folder as one lazily read source', async () => {
    const d = await shardedFolder('ok');
    const ckpt = await openCheckpoint(d);
    expect(ckpt.list()).toEqual([
      { name: 'a', dtype: 'F32', shape: [2] },
      { name: 'b', dtype: 'F16', shape: [2] },
      { name: 'c', dtype: 'U8', shape: [3] },
    ]);
    expect(ckpt.indexPath).toBe(path.join(d, INDEX_FILE));
    expect(ckpt.shardOf('b')).toBe(path.join(d, SHARD2));
    expect(ckpt.totalBytes).toBe(15);
    expect(await ckpt.readF32('a')).toEqual(Float32Array.of(1.5, -2));
    expect(await ckpt.readF32('b')).toEqual(Float32Array.of(1, -2));
    expect([...(await ckpt.readRaw('c'))]).toEqual([1, 2, 3]);
    expect(ckpt.has('c') && !ckpt.has('d')).toBe(true);
    await expect(ckpt.readRaw('d')).rejects.toMatchObject({ code: 'checkpoint/no-tensor' });
    await ckpt.close();
    await expect(ckpt.readRaw('a')).rejects.toThrow(/already closed/);
  });

  it('accepts an index without metadata (older tools) and with extra metadata keys (newer transformers)', async () => {
    const d = await shardedFolder('meta');
    writeIndex(d, { weight_map: { a: SHARD1, b: SHARD2, c: SHARD1 } });
    await (await openCheckpoint(d)).close();
    writeIndex(d, { metadata: { total_size: 15, total_parameters: 7 }, weight_map: { a: SHARD1, b: SHARD2, c: SHARD1 } });
    await (await openCheckpoint(d)).close();
  });

  const broken: [string, (d: string) => void, string, RegExp][] = [
    ['an index that is not JSON', (d) => writeIndex(d, '{"weight_map": '), 'checkpoint/index', /not valid JSON/],
    ['an index without weight_map', (d) => writeIndex(d, { metadata: { total_size: 15 } }), 'checkpoint/index', /weight_map/],
    ['a weight_map entry that is not a file name', (d) => writeIndex(d, { weight_map: { a: 5 } }), 'checkpoint/index', /weight_map\.a/],
    [
      'a negative total_size',
      (d) => writeIndex(d, { metadata: { total_size: -1 }, weight_map: { a: SHARD1 } }),
      'checkpoint/index',
      /metadata\.total_size/,
    ],
    ['an empty weight_map', (d) => writeIndex(d, { weight_map: {} }), 'checkpoint/index', /lists no tensors/],
    [
      'a shard outside the folder',
      (d) => writeIndex(d, { weight_map: { a: `../${SHARD1}`, b: SHARD2, c: SHARD1 } }),
      'checkpoint/index',
      /must be a file name in the same folder/,
    ],
    [
      'a shard that does not exist',
      (d) => writeIndex(d, { weight_map: { a: SHARD1, b: 'model-00003-of-00002.safetensors', c: SHARD1 } }),
      'checkpoint/missing-shard',
      /lists shard model-00003-of-00002\.safetensors, which does not exist/,
    ],
    [
      'a tensor mapped to the wrong shard',
      (d) => writeIndex(d, { weight_map: { a: SHARD2, b: SHARD2, c: SHARD1 } }),
      'checkpoint/wrong-shard',
      /maps a to model-00002-of-00002\.safetensors, but that shard does not hold it/,
    ],
    [
      'a mapped tensor no shard holds',
      (d) => writeIndex(d, { weight_map: { a: SHARD1, b: SHARD2, c: SHARD1, z: SHARD2 } }),
      'checkpoint/unmapped',
      /maps z to/,
    ],
    [
      'a shard tensor the weight_map omits',
      (d) => writeIndex(d, { weight_map: { a: SHARD1, b: SHARD2 } }),
      'checkpoint/unlisted',
      /tensor c in model-00001-of-00002\.safetensors is missing/,
    ],
    [
      'a total_size that does not add up',
      (d) => writeIndex(d, { metadata: { total_size: 16 }, weight_map: { a: SHARD1, b: SHARD2, c: SHARD1 } }),
      'checkpoint/total-size',
      /metadata\.total_size is 16 but the shards hold 15 bytes/,
    ],
  ];
  it.each(broken)('rejects %s, naming the index file', async (_what, breakIt, code, message) => {
    const d = await shardedFolder(`broken-${broken.findIndex((b) => b[1] === breakIt)}`);
    breakIt(d);
    const e = await rejection(openCheckpoint(d));
    expect(e.code).toBe(code);
    expect(e.message.startsWith(`${path.join(d, INDEX_FILE)}: `)).toBe(true);
    expect(e.message).toMatch(message);
  });

  it('rejects a tensor stored in two shards', async () => {
    const d = await shardedFolder('dup');
    await writeSafetensors(path.join(d, SHARD2), [
      { name: 'a', dtype: 'F32', shape: [2], data: new Uint8Array(8) },
      { name: 'b', dtype: 'F16', shape: [2], data: new Uint8Array(4) },
    ]);
    const e = await rejection(openCheckpoint(d));
    expect(e.code).toBe('checkpoint/duplicate');
    expect(e.message).toContain(`tensor a is in both ${SHARD1} and ${SHARD2}`);
  });

  it('passes on a broken shard as the shard own error', async () => {
    const d = await shardedFolder('bad-shard');
    writeFileSync(path.join(d, SHARD2), new Uint8Array(4));
    const e = await rejection(openCheckpoint(d));
    expect(e.code).toBe('safetensors/too-short');
    expect(e.message.startsWith(path.join(d, SHARD2))).toBe(true);
  });
});

describe('model folders', () => {
  it('reads a folder with model.safetensors, or that file given directly', async () => {
    const d = path.join(root, 'single');
    mkdirSync(d);
    await writeSafetensors(path.join(d, 'model.safetensors'), [{ name: 'w', dtype: 'BF16', shape: [1], data: Uint8Array.of(0x80, 0x3f) }]);
    for (const where of [d, path.join(d, 'model.safetensors')]) {
      const ckpt = await openCheckpoint(where);
      expect(await ckpt.readF32('w')).toEqual(Float32Array.of(1));
      expect(ckpt.indexPath).toBeUndefined();
      await ckpt.close();
    }
  });

  const folders: [string, string[], string, RegExp][] = [
    ['no folder at all', [], 'checkpoint/missing', /model folder does not exist/],
    ['an empty folder', ['<dir>'], 'checkpoint/no-weights', /no model\.safetensors or model\.safetensors\.index\.json/],
    ['pytorch_model.bin only', ['pytorch_model.bin'], 'checkpoint/pickle', /convert to safetensors first/],
    [
      'shards without their index',
      ['model-00001-of-00002.safetensors'],
      'checkpoint/no-index',
      /found model-00001-of-00002\.safetensors but neither/,
    ],
    [
      'a LoRA adapter folder',
      ['adapter_config.json', 'adapter_model.safetensors'],
      'checkpoint/adapter',
      /LoRA adapter folder, not a model/,
    ],
    ['GGUF files only', ['model.Q8_0.gguf'], 'checkpoint/gguf', /only GGUF files here/],
  ];
  it.each(folders)('explains %s, naming the folder', async (what, files, code, message) => {
    const d = path.join(root, what.replace(/\W+/g, '-'));
    if (files.length) mkdirSync(d);
    for (const f of files) if (f !== '<dir>') writeFileSync(path.join(d, f), 'x');
    const e = await rejection(openCheckpoint(d));
    expect(e.code).toBe(code);
    expect(e.message.startsWith(`${d}: `)).toBe(true);
    expect(e.message).toMatch(message);
  });
});

describe('a model folder through openCheckpoint', () => {
  it('reads a folder written by safetensors-writer, and the same tensors re-sharded by hand with an index', async () => {
    const real = await openCheckpoint(MODEL_DIR);
    expect(real.list().length).toBe(47);
    expect(real.info('model.layers.0.self_attn.k_proj.weight')).toEqual({
      name: 'model.layers.0.self_attn.k_proj.weight',
      dtype: 'F32',
      shape: [32, 64],
    });

    // Split into three shards (embeddings; layers 0-2; the rest), as transformers would by size.
    const d = path.join(root, 'stories-sharded');
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
    const groups = [
      real.list().filter((t) => t.name.startsWith('model.embed')),
      real.list().filter((t) => /^model\.layers\.[0-2]\./.test(t.name)),
      real.list().filter((t) => !t.name.startsWith('model.embed') && !/^model\.layers\.[0-2]\./.test(t.name)),
    ];
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (const [i, group] of groups.entries()) {
      const shard = `model-0000${i + 1}-of-00003.safetensors`;
      await writeSafetensors(
        path.join(d, shard),
        group.map((t) => ({ ...t, data: () => real.readRaw(t.name) })),
        { metadata: { format: 'pt' } },
      );
      for (const t of group) {
        weightMap[t.name] = shard;
        total += t.shape.reduce((a, b) => a * b, 1) * 4;
      }
    }
    writeIndex(d, { metadata: { total_size: total }, weight_map: weightMap });

    const sharded = await openCheckpoint(d);
    expect(sharded.list()).toEqual(real.list());
    expect(sharded.shardPaths.length).toBe(3);
    // total_size is the data buffer of the real file: its size minus the 8-byte prefix and header.
    const original = await openSafetensors(path.join(MODEL_DIR, 'model.safetensors'));
    expect(sharded.totalBytes).toBe(readFileSync(original.path).length - original.dataOffset);
    await original.close();
    for (const t of real.list()) {
      // Buffer.equals: vitest's deep equality walks typed arrays element by element (seconds for 1 MB).
      expect(Buffer.from(await sharded.readRaw(t.name)).equals(await real.readRaw(t.name)), t.name).toBe(true);
    }
    await sharded.close();
    await real.close();
  });
});
