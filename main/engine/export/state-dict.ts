import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodedBytes } from './encoded-pieces.ts';
import { DTYPE_BYTES } from '../formats/dtypes.ts';
import { exportPool } from './export-pool.ts';
import { openSafetensors, writeSafetensors } from '../formats/safetensors.ts';
import { withAtomicDir } from '../fs/atomic-dir.ts';
import type { ExportDtype, FolderExportOptions } from './hf-export.ts';
import { exportTensors } from './export-tensors.ts';
import { StudioError } from '../errors.ts';
import { tensorName } from '../llama/tensors.ts';

const STATE_DICT_FILE = 'consolidated.00.safetensors';

/**
 * The Meta "state dict" layout: params.json + consolidated.00.safetensors with Meta key names and wq/wk permuted
 * back to interleaved RoPE. Meta's checkpoints always carry output.weight, so a tied embedding is written twice.
 * Load it in PyTorch with `safetensors.torch.load_file("consolidated.00.safetensors")` (a dict of tensors, the same
 * keys Meta's `consolidated.00.pth` has).
 */
export interface StateDictResult {
  outDir: string;
  file: string;
  tensors: number;
}

export async function exportStateDict(opts: FolderExportOptions<StateDictResult> & { dtype: ExportDtype }): Promise<StateDictResult> {
  const { source, config } = opts;
  const stDtype = ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[opts.dtype];
  if (config.attentionBiases.length)
    throw new StudioError(
      `Meta's LLaMA layout has no attention biases (its model code has none), and this model has them on ${config.attentionBiases.join(', ')}; export it as a Hugging Face checkpoint (merge) or GGUF (quantize)`,
      'config.json',
      'export/meta-bias',
    );
  const entries = exportTensors(source, config).map((t) => ({
    hf: t.name,
    meta: tensorName(t.name, 'meta'),
    shape: t.shape,
    ropeHeads: t.ropeHeads,
  }));
  // Meta's checkpoints always carry output.weight: a tied model's is its embedding.
  if (config.tieWordEmbeddings)
    entries.push({
      hf: 'model.embed_tokens.weight',
      meta: tensorName('lm_head.weight', 'meta'),
      shape: [config.vocabSize, config.hiddenSize],
      ropeHeads: undefined,
    });
  let done = 0;
  const work = { tensors: entries.map((e) => source.info(e.hf)), encodedBytesPerValue: DTYPE_BYTES[stDtype] };
  const { pool, release } = await exportPool(work, opts);
  try {
    return await withAtomicDir(opts.outDir, opts.atomic ?? {}, async (dir) => {
      const params = {
        dim: config.hiddenSize,
        n_layers: config.numLayers,
        n_heads: config.numHeads,
        n_kv_heads: config.numKvHeads,
        norm_eps: config.rmsNormEps,
        vocab_size: config.vocabSize,
        multiple_of: 256,
        ffn_dim: config.intermediateSize,
        rope_theta: config.ropeTheta,
      };
      writeFileSync(path.join(dir, 'params.json'), JSON.stringify(params, null, 2));
      const file = path.join(dir, STATE_DICT_FILE);
      await writeSafetensors(
        file,
        entries.map((e) => ({
          name: e.meta,
          dtype: stDtype,
          shape: e.shape,
          // wq/wk rows go back to interleaved RoPE, head by head: each piece holds whole heads.
          data: () =>
            encodedBytes(source, e.hf, pool, {
              to: stDtype,
              ropeHeads: e.hf.endsWith('q_proj.weight') ? config.numHeads : e.hf.endsWith('k_proj.weight') ? config.numKvHeads : undefined,
              pieceValues: opts.pieceValues,
            }),
        })),
        {
          metadata: { format: 'pt' },
          lookahead: pool.lookahead,
          onWritten: (piece) => pool.slots.releaseBytes(piece),
          hooks: { afterTensor: (name) => opts.onProgress?.(++done, entries.length, name) },
        },
      );
      const check = await openSafetensors(file);
      const n = check.list().length;
      await check.close();
      if (n !== entries.length) throw new Error(`state dict check: ${n} tensors reopened, ${entries.length} written`);
      return { outDir: opts.outDir, file: STATE_DICT_FILE, tensors: entries.length };
    });
  } finally {
    await release();
  }
}
