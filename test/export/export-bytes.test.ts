import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticModel } from '../../bench/synthetic.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { exportHfCheckpoint, type ExportDtype } from '../../main/engine/export/hf-export.ts';
import { exportInt8 } from '../../main/engine/export/int8.ts';
import { openExportInput } from '../../main/engine/export/open-model.ts';
import { exportStateDict } from '../../main/engine/export/state-dict.ts';
import { exportLlamaGguf, type GgufFileType } from '../../main/engine/formats/gguf-llama.ts';
import { makeAdapterConfig, writePeftAdapter } from '../../main/engine/formats/peft-adapter.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';

/**
 * The exports' bytes are pinned: SHA-256 of every file each export writes, recorded with the exporters as they were
 * before the streaming rewrite (whole tensors, one pass per step). Any speed change must leave them identical. The
 * model is a small bf16 sharded checkpoint with a non-zero LoRA adapter on q, k and v (so the RoPE permutation of
 * merged rows is covered), and `pieceValues` is set low so every tensor is cut into many pieces. Every export runs
 * twice, encoding on its own thread and on two worker threads (pieces merged, permuted and quantized out of order,
 * written in order): both must give the pinned bytes. The int8 hashes were recorded with int8.ts before it streamed
 * (whole tensors).
 */
const work = mkdtempSync(path.join(tmpdir(), 'export-bytes-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const H = 256;
const shape = {
  hidden_size: H,
  intermediate_size: 704,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 512,
  tie_word_embeddings: false,
};
const PIECE_VALUES = 5000; // ~20 rows of 256: pieces end inside heads' row groups unless the exporter keeps them whole
/** Worker threads: 0 encodes on the test's own thread (the serial path), 2 on a pool of workers (the parallel path). */
const THREADS = [0, 2];
const both = <T>(cases: T[]) => cases.flatMap((c) => THREADS.map((threads) => [c, threads] as const));

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
function folderHashes(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f !== 'verification.json')
      .sort()
      .map((f) => [f, sha(path.join(dir, f))]),
  );
}

describe.skipIf(missingShared('models/stories260K/tokenizer.json'))('export bytes are unchanged by the streaming exporters', () => {
  const base = path.join(work, 'base');
  const adapter = path.join(work, 'adapter');

  beforeAll(async () => {
    await writeSyntheticModel(base, shape, sharedPath('models/stories260K'), { dtype: 'BF16', maxShardBytes: 1_000_000 });
    const prng = new Prng(11);
    const r = 4;
    const tensors = [];
    for (let l = 0; l < shape.num_hidden_layers; l++) {
      for (const [name, out] of [
        ['q_proj', H],
        ['k_proj', 128],
        ['v_proj', 128],
      ] as const) {
        tensors.push({
          key: `base_model.model.model.layers.${l}.self_attn.${name}`,
          a: Float32Array.from({ length: r * H }, () => prng.next() - 0.5),
          b: Float32Array.from({ length: out * r }, () => (prng.next() - 0.5) * 0.05),
          aShape: [r, H],
          bShape: [out, r],
        });
      }
    }
    await writePeftAdapter(
      adapter,
      makeAdapterConfig({ baseModel: base, r, alpha: 8, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj'], useRslora: false }),
      tensors,
    );
  });

  const HF: Record<ExportDtype, Record<string, string>> = {
    f16: {
      'config.json': '6722bceed454e457',
      'generation_config.json': '720858ddb18cc6e5',
      'tokenizer.json': '40c53a0abb9dcabd',
      'tokenizer_config.json': '5672ddf5d46257d6',
      'model.safetensors.index.json': 'a4c569177672080f',
      'model-00001-of-00010.safetensors': 'ceb9a243b72ec592',
      'model-00002-of-00010.safetensors': '8454a0cdd1f1962c',
      'model-00003-of-00010.safetensors': '727c1e74ffa772ee',
      'model-00004-of-00010.safetensors': '4b4f055fe9160ee8',
      'model-00005-of-00010.safetensors': '2ff94fa17638f6f1',
      'model-00006-of-00010.safetensors': 'e69e537024939489',
      'model-00007-of-00010.safetensors': '3c623039e636e845',
      'model-00008-of-00010.safetensors': '75c184457c196f66',
      'model-00009-of-00010.safetensors': 'ef5200c2309fa8af',
      'model-00010-of-00010.safetensors': 'a0df98652f19d5e0',
    },
    bf16: {
      'config.json': '1f16eaae7114b0d2',
      'generation_config.json': '720858ddb18cc6e5',
      'tokenizer.json': '40c53a0abb9dcabd',
      'tokenizer_config.json': '5672ddf5d46257d6',
      'model.safetensors.index.json': 'a4c569177672080f',
      'model-00001-of-00010.safetensors': '6bff313bce10403b',
      'model-00002-of-00010.safetensors': 'd9f6ceea120ff340',
      'model-00003-of-00010.safetensors': '0e2f5f6c958802ef',
      'model-00004-of-00010.safetensors': '539e665ef10b277f',
      'model-00005-of-00010.safetensors': 'bc74a51d2581864d',
      'model-00006-of-00010.safetensors': 'e234668c5b84762f',
      'model-00007-of-00010.safetensors': '19c346060560b691',
      'model-00008-of-00010.safetensors': 'f130da935baaf564',
      'model-00009-of-00010.safetensors': '5a288086e6f3fd85',
      'model-00010-of-00010.safetensors': 'da058f8f02237064',
    },
    f32: {
      'config.json': '83a7ec85c0cf912e',
      'generation_config.json': '720858ddb18cc6e5',
      'tokenizer.json': '40c53a0abb9dcabd',
      'tokenizer_config.json': '5672ddf5d46257d6',
      'model.safetensors.index.json': 'f0eceac472df5fee',
      'model-00001-of-00013.safetensors': '5c506a5bdc75f391',
      'model-00002-of-00013.safetensors': 'f94204f8d7362a42',
      'model-00003-of-00013.safetensors': '56a396f2bcc76fb9',
      'model-00004-of-00013.safetensors': '88cdcc6936890e92',
      'model-00005-of-00013.safetensors': '32f41e9df7ca404a',
      'model-00006-of-00013.safetensors': '26caba16c69ef010',
      'model-00007-of-00013.safetensors': '27ba75f5887b7cad',
      'model-00008-of-00013.safetensors': '3c9ea61b03a5e271',
      'model-00009-of-00013.safetensors': 'd3a31d147ea32c52',
      'model-00010-of-00013.safetensors': 'b8f8478d482b67c9',
      'model-00011-of-00013.safetensors': 'e78e083a97ead8a5',
      'model-00012-of-00013.safetensors': 'a91eaa7d96c49d28',
      'model-00013-of-00013.safetensors': 'd5b47a64670d42b5',
    },
  };
  it.each(both(Object.keys(HF) as ExportDtype[]))('merge → HF shards (%s, %i worker threads)', async (dtype, threads) => {
    const input = await openExportInput(base, adapter);
    const out = path.join(work, `hf-${dtype}-${threads}`);
    try {
      await exportHfCheckpoint({
        source: input.source,
        config: input.config,
        baseDir: base,
        outDir: out,
        maxShardSize: 400_000,
        dtype,
        pieceValues: PIECE_VALUES,
        threads,
      });
    } finally {
      await input.source.close();
    }
    expect(folderHashes(out)).toEqual(HF[dtype]);
  });

  const GGUF: Record<GgufFileType, { file: string; report: string }> = {
    q8_0: { file: '7148df462d886498', report: '54375a8b0d994a66' },
    f16: { file: '48f507f5ac4cd100', report: 'f27629dfae79d442' },
    f32: { file: 'dbbd914f5cf9ee37', report: 'ec29b36577265abf' },
  };
  it.each(both(Object.keys(GGUF) as GgufFileType[]))(
    'merge → GGUF %s, with its per-tensor error report (%i worker threads)',
    async (fileType, threads) => {
      const input = await openExportInput(base, adapter);
      const out = path.join(work, `model-${fileType}-${threads}.gguf`);
      try {
        const report = await exportLlamaGguf(input.source, input.config, base, out, {
          fileType,
          name: 'bytes',
          pieceValues: PIECE_VALUES,
          threads,
        });
        expect({ file: sha(out), report: createHash('sha256').update(JSON.stringify(report.tensors)).digest('hex').slice(0, 16) }).toEqual(
          GGUF[fileType],
        );
      } finally {
        await input.source.close();
      }
    },
  );

  it.each(THREADS)("merge → Meta's state dict (f16, q/k permuted back; %i worker threads)", async (threads) => {
    const input = await openExportInput(base, adapter);
    const out = path.join(work, `state-dict-${threads}`);
    try {
      await exportStateDict({ source: input.source, config: input.config, outDir: out, dtype: 'f16', pieceValues: PIECE_VALUES, threads });
    } finally {
      await input.source.close();
    }
    expect(folderHashes(out)).toEqual({ 'consolidated.00.safetensors': 'dc7357c3be68506f', 'params.json': '32644bce74103107' });
  });

  it.each(THREADS)('merge → int8 (bitsandbytes layout), with its per-projection error report (%i worker threads)', async (threads) => {
    const input = await openExportInput(base, adapter);
    const out = path.join(work, `int8-${threads}`);
    let r;
    try {
      r = await exportInt8({ source: input.source, config: input.config, baseDir: base, outDir: out, pieceValues: PIECE_VALUES, threads });
    } finally {
      await input.source.close();
    }
    expect(folderHashes(out)).toEqual({
      'config.json': '6cbd0a8bbf787e76',
      'generation_config.json': '720858ddb18cc6e5',
      'model.safetensors': 'de8d295936f76291',
      'tokenizer.json': '40c53a0abb9dcabd',
      'tokenizer_config.json': '5672ddf5d46257d6',
    });
    expect(createHash('sha256').update(JSON.stringify(r.errors)).digest('hex').slice(0, 16)).toBe('77057226dc92c7fb');
    expect(r.worstStepFraction).toBe(0.5000033612017865);
  });
});
