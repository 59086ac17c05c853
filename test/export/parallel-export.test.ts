import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../../main/engine/data/prng.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { exportHfCheckpoint } from '../../main/engine/export/hf-export.ts';
import { exportInt8 } from '../../main/engine/export/int8.ts';
import { openExportInput } from '../../main/engine/export/open-model.ts';
import { exportLlamaGguf } from '../../main/engine/export/gguf-llama.ts';
import { makeAdapterConfig, writePeftAdapter } from '../../main/engine/formats/peft-adapter.ts';
import { PiecePool } from '../../main/engine/export/piece-pool.ts';
import { TINY_ALPHABET } from '../helpers/synthetic.ts';

// Failures on the exports' worker threads. That the threads give the same bytes as the export's own thread is
// checked, export by export, against the pinned hashes in export-bytes.test.ts.
const work = mkdtempSync(path.join(tmpdir(), 'parallel-export-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const H = 128;
const shape = {
  hidden_size: H,
  intermediate_size: 352,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 512,
  tie_word_embeddings: false,
};
const base = path.join(work, 'base');
/** A piece of ~8 rows: every tensor is many pieces, spread over both workers. */
const PIECE_VALUES = 1000;

/** An adapter on q_proj of both layers; `huge` makes B·A overflow f32 in layer 1 (a merge that must be refused). */
async function adapter(name: string, huge: boolean): Promise<string> {
  const prng = new Prng(4);
  const r = 4;
  const dir = path.join(work, `adapter-${name}`);
  await writePeftAdapter(
    dir,
    makeAdapterConfig({ baseModel: base, r, alpha: 8, dropout: 0, targetModules: ['q_proj'], useRslora: false }),
    [0, 1].map((l) => ({
      key: `base_model.model.model.layers.${l}.self_attn.q_proj`,
      a: Float32Array.from({ length: r * H }, () => (huge && l === 1 ? 1e30 : prng.next() - 0.5)),
      b: Float32Array.from({ length: H * r }, () => (huge && l === 1 ? 1e30 : (prng.next() - 0.5) * 0.01)),
      aShape: [r, H],
      bShape: [H, r],
    })),
  );
  return dir;
}

/** Nothing at `out` and no temp file or folder beside it: a failed export leaves nothing that looks finished. */
function leftNothing(out: string): void {
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(path.dirname(out)).filter((n) => n.startsWith(`.${path.basename(out)}`))).toEqual([]);
}

const EXPORTS = {
  'HF shards (f16)': (input: Awaited<ReturnType<typeof openExportInput>>, out: string, extra: object) =>
    exportHfCheckpoint({
      source: input.source,
      config: input.config,
      baseDir: base,
      outDir: out,
      maxShardSize: 1e9,
      dtype: 'f16',
      ...extra,
    }),
  'GGUF Q8_0': (input: Awaited<ReturnType<typeof openExportInput>>, out: string, extra: object) =>
    exportLlamaGguf(input.source, input.config, base, `${out}.gguf`, { fileType: 'q8_0', ...extra }),
  int8: (input: Awaited<ReturnType<typeof openExportInput>>, out: string, extra: object) =>
    exportInt8({ source: input.source, config: input.config, baseDir: base, outDir: out, ...extra }),
};
const outputOf = (kind: string, out: string) => (kind === 'GGUF Q8_0' ? `${out}.gguf` : out);

describe('exports on worker threads', () => {
  beforeAll(async () => {
    await writeSyntheticModel(base, shape, { alphabet: TINY_ALPHABET });
  });

  it.each(Object.keys(EXPORTS))('%s: a merge that overflows on a worker thread names the tensor and leaves nothing', async (kind) => {
    const input = await openExportInput(base, await adapter(`huge-${kind}`, true));
    const out = path.join(work, `huge-${kind.replace(/\W/g, '')}`);
    try {
      await expect(EXPORTS[kind as keyof typeof EXPORTS](input, out, { threads: 2, pieceValues: PIECE_VALUES })).rejects.toThrow(
        /merging the adapter into model\.layers\.1\.self_attn\.q_proj\.weight gives (-)?Infinity at \[\d+, \d+\]; nothing was written/,
      );
    } finally {
      await input.source.close();
    }
    leftNothing(outputOf(kind, out));
  });

  it.each(Object.keys(EXPORTS))(
    '%s: a worker thread that dies half-way fails the export with a clear error and leaves nothing',
    async (kind) => {
      const input = await openExportInput(base, await adapter(`fine-${kind}`, false));
      const out = path.join(work, `dies-${kind.replace(/\W/g, '')}`);
      const pool = await PiecePool.open(2, { required: true, entry: new URL('../helpers/dying-piece-worker.ts', import.meta.url) });
      try {
        await expect(EXPORTS[kind as keyof typeof EXPORTS](input, out, { pool, pieceValues: PIECE_VALUES })).rejects.toThrow(
          /an export worker thread stopped \(exit code 7\) while encoding [\w.]+; nothing was written/,
        );
      } finally {
        await pool.close();
        await input.source.close();
      }
      leftNothing(outputOf(kind, out));
    },
  );
});
